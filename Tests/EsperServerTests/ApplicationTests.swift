import EsperServer
import EsperTestSupport
import Foundation
import Testing

@Suite(.serialized) struct ApplicationTests {
    @Test func healthVersionAndMetricsWithManagedRedis() throws {
        let server = try ServerHarness()
        let health = try server.get("/healthz")
        #expect(health.status == 200)
        let body = try RawHTTP.json(health)
        #expect(body["status"] as? String == "ok")
        let checks = try #require(body["checks"] as? [String: [String: Any]])
        #expect(checks["redis"]?["status"] as? String == "ok")
        #expect(checks["storage"]?["status"] as? String == "ok")

        let version = try RawHTTP.json(try server.get("/api/v1/version"))
        #expect(version["version"] as? String == Application.version)

        let metrics = try server.get("/metrics")
        #expect(metrics.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.text.contains("# TYPE esper_http_requests_total counter"))
        #expect(metrics.text.contains("esper_http_request_duration_seconds_bucket"))
        #expect(metrics.text.hasSuffix("\n"))
    }

    @Test func managedRedisIsStoppedOnShutdown() throws {
        var server: ServerHarness? = try ServerHarness()
        let pid = try #require(server?.application.managedRedis?.pid)
        #expect(processIsAlive(pid))
        server = nil
        #expect(eventually(within: 10) { !processIsAlive(pid) })
    }

    @Test func killedRedisMakesHealthDegradedUntilItIsRestarted() throws {
        // Nissa's consumer polls through the outage and opens the consume breaker; a short
        // recovery window lets the test see it close again well within its wait.
        let server = try ServerHarness(environment: ["OONA_BREAKER_RECOVERY_MS": "500"])
        let managed = try #require(server.application.managedRedis)
        let first = try #require(managed.pid)
        kill(first, SIGKILL)
        #expect(eventually(within: 5) { (try? server.get("/healthz").status) == 503 })
        #expect(eventually(within: 15) { (try? server.get("/healthz").status) == 200 })
        #expect(managed.restartCount >= 1)
        #expect(managed.pid != first)
    }

    @Test func externalRedisOverTCP() throws {
        // CI provides one on loopback (ESPER_TEST_REDIS_URL); otherwise start our own.
        var spawned: Process?
        var url = ProcessInfo.processInfo.environment["ESPER_TEST_REDIS_URL"] ?? ""
        let scratch = TemporaryDirectory("esper-tcp-redis")
        if url.isEmpty {
            let port = Int.random(in: 41000...49000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--dir", scratch.path]
            process.standardOutput = FileHandle.nullDevice
            // Never the test runner's stdin: redis-server crashes at start when it is closed.
            process.standardInput = FileHandle.nullDevice
            try process.run()
            spawned = process
            url = "redis://127.0.0.1:\(port)/0"
        }
        defer {
            if let spawned {
                kill(spawned.processIdentifier, SIGKILL)
                spawned.waitUntilExit()
            }
        }
        let server = try ServerHarness(environment: ["REDIS_URL": url])
        #expect(server.application.managedRedis == nil)
        // The redis check, not the whole answer: on a machine busy with the other suites the
        // forge's compiles can outlast their watchdog, and a failed compile degrades
        // `blueprints` (its own tests cover that), which says nothing about Redis.
        var redis: [String: Any] = [:]
        let reachable = eventually(within: 30) {
            guard let health = try? server.get("/healthz"), let body = try? RawHTTP.json(health) else { return false }
            redis = (body["checks"] as? [String: [String: Any]])?["redis"] ?? [:]
            return redis["status"] as? String == "ok"
        }
        #expect(reachable, "redis check: \(redis)")
        #expect((redis["detail"] as? String)?.hasPrefix("external redis://127.0.0.1:") == true)
    }

    @Test func unreachableExternalRedisIsDegradedNotFatal() throws {
        let server = try ServerHarness(environment: ["REDIS_URL": "redis://127.0.0.1:1"])
        let health = try server.get("/healthz")
        #expect(health.status == 503)
        let body = try RawHTTP.json(health)
        #expect(body["status"] as? String == "degraded")
        #expect(try server.get("/api/v1/version").status == 200)
    }
}

@Suite(.serialized) struct ProcessTests {
    @Test func badConfigurationExitsWith2AndOneClearLine() throws {
        let directory = TemporaryDirectory("esper-proc")
        let badPort = try EsperBinary.run(["serve"], environment: ["ESPER_PORT": "eighty"], workingDirectory: directory.path)
        #expect(badPort.status == 2)
        #expect(badPort.stderr.contains("ESPER_PORT"))
        #expect(badPort.stderr.split(separator: "\n").count == 1)

        _ = FileManager.default.createFile(atPath: directory.path + "/file", contents: Data())
        let badDir = try EsperBinary.run(["serve", "--data-dir", directory.path + "/file"], workingDirectory: directory.path)
        #expect(badDir.status == 2)
        #expect(badDir.stderr.contains("ESPER_DATA_DIR"))

        let emptySecret = try EsperBinary.run(["serve"], environment: ["ESPER_LEYLINE_SECRET": ""], workingDirectory: directory.path)
        #expect(emptySecret.status == 2)
        #expect(emptySecret.stderr.contains("ESPER_LEYLINE_SECRET"))
    }

    @Test func sigtermStopsGracefullyWithExitZeroAndNoOrphanRedis() throws {
        let directory = TemporaryDirectory("esper-proc")
        let port = ServerProcess.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EsperBinary.path)
        process.arguments = ["serve", "--port", "\(port)", "--data-dir", directory.path + "/var"]
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "ESPER_ACCESS_LOG": "off"]
        process.currentDirectoryURL = URL(fileURLWithPath: directory.path)
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        #expect(eventually(within: 60) { (try? RawHTTP.request(port: port, path: "/healthz").status) == 200 })
        let pidText = try String(contentsOfFile: directory.path + "/var/redis/redis.pid", encoding: .utf8)
        let redisPid = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(processIsAlive(redisPid))

        kill(process.processIdentifier, SIGTERM)
        #expect(eventually(within: 15) { !process.isRunning })
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
        #expect(eventually(within: 5) { !processIsAlive(redisPid) })
    }
}
