import EsperStorage
import EsperTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Health that tells the truth (issue 16): a full disk and a damaged SQLite file show at
/// `/healthz` with their reason; Nissa's state outlives kill -9.
@Suite(.serialized) struct FaultHealthTests {
    static func check(_ server: ServerHarness, _ name: String) throws -> [String: Any] {
        let body = try RawHTTP.json(try server.get("/healthz"))
        return (body["checks"] as? [String: Any])?[name] as? [String: Any] ?? [:]
    }

    /// A small tmpfs (needs root to mount; skipped otherwise), filled and freed.
    @Test func aFullDiskIsDegradedWithTheReasonAndRecovers() throws {
        guard getuid() == 0 else { return }
        let mountPoint = TemporaryDirectory("esper-tmpfs")
        guard
            Tools.find("mount").map({ (try? Tools.run($0, ["-t", "tmpfs", "-o", "size=24m", "tmpfs", mountPoint.path]))?.status == 0 })
                == true
        else { return }
        defer { _ = try? Tools.run(Tools.find("umount") ?? "/bin/umount", ["-l", mountPoint.path]) }
        let redis = try RedisTestServer()
        let data = TemporaryDirectory("esper-full")
        let server = try ServerHarness(
            environment: ["ESPER_DATA_DIR": mountPoint.path + "/var", "ESPER_STORAGE_CHECK_S": "1"], data: data, redis: redis)
        #expect(try Self.check(server, "storage")["status"] as? String == "ok")
        // Fill it: dd stops at "No space left on device".
        let filler = mountPoint.path + "/filler"
        _ = try Tools.run(Tools.find("dd") ?? "/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=1M", "count=64"])
        #expect(
            eventually(within: 15) {
                let storage = (try? Self.check(server, "storage")) ?? [:]
                return storage["status"] as? String == "degraded" && (storage["detail"] as? String)?.contains("No space left") == true
            })
        #expect(try server.get("/healthz").status == 503)
        unlink(filler)
        #expect(eventually(within: 15) { ((try? Self.check(server, "storage")) ?? [:])["status"] as? String == "ok" })
    }

    @Test func aDamagedRunRegistryIsNamedAtHealthzAndTheServerStillServes() throws {
        let redis = try RedisTestServer()
        let data = TemporaryDirectory("esper-corrupt")
        do {
            let server = try ServerHarness(data: data, redis: redis, configure: { $0.localWorkers = false })
            for index in 0..<60 {
                let config =
                    #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [8]}, "epochs": 1, "learning_rate": 0.01, "seed": \#(index)}"#
                let created = try server.request("POST", "/api/v1/runs", json: config)
                #expect(created.status == 202, "\(created.text)")
            }
            #expect(try Self.check(server, "integrity")["status"] as? String == "ok")
        }
        // Everything into the main file first (the server may leave a WAL behind).
        let path = data.path + "/var/tolaria/runs.db"
        let python = try #require(Tools.find("python3"))
        _ = try Tools.run(
            python, ["-c", "import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')", path])
        // Flip the b-tree page headers (type, free block, cell count) of every page after the
        // first (the schema on page 1 stays readable, so damage is named by table).
        var bytes = try #require(FileManager.default.contents(atPath: path).map { Array($0) })
        #expect(bytes.count > 8192)
        var page = 4096
        while page + 2048 < bytes.count {
            for offset in page + 1..<page + 6 { bytes[offset] ^= 0xA5 }
            page += 4096
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let server = try ServerHarness(data: data, redis: redis, configure: { $0.localWorkers = false })
        let integrity = try Self.check(server, "integrity")
        #expect(integrity["status"] as? String == "degraded")
        let detail = integrity["detail"] as? String ?? ""
        #expect(detail.contains("tolaria/runs.db"), "\(detail)")
        // The damage is named by table (and, where the rows can be listed, by row).
        #expect(detail.contains("table run_"), "\(detail)")
        #expect(try server.get("/healthz").status == 503)
        // Still serving: version, health, and routes that do not need the damaged pages.
        #expect(try server.get("/api/v1/version").status == 200)
        #expect(try server.get("/api/v1/nissa/alerts").status == 200)
    }
}

/// Nissa's state against a real `esper serve` killed with SIGKILL (issue 16).
@Suite(.serialized) struct NissaDurabilityTests {
    @Test func alertsAcksAndParkedNotificationsSurviveKill9() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let redis = try RedisTestServer()
        let data = TemporaryDirectory("esper-nissa-kill")
        let receiver = try WebhookReceiver(statuses: Array(repeating: 500, count: 10_000))
        let environment = [
            "NISSA_SLACK_WEBHOOK_URL": "http://127.0.0.1:\(receiver.port)/slack",
            "NISSA_PAGERDUTY_WEBHOOK_URL": "http://127.0.0.1:\(receiver.port)/pd",
            "NISSA_EMAIL_WEBHOOK_URL": "http://127.0.0.1:\(receiver.port)/email",
            "NISSA_WEBHOOK_MAX_ATTEMPTS": "1", "NISSA_WEBHOOK_BACKOFF_MS": "1", "NISSA_WEBHOOK_PARKED_RETRY_S": "3600",
            "ESPER_FORGE_AT_START": "off",
        ]
        guard case .unix(let socketPath) = redis.endpoint.address else { Issue.record("expected a unix socket"); return }
        let redisURL = "unix://\(socketPath)"
        var first: ServerProcess? = try ServerProcess(
            dataDirectory: data.path, redisURL: redisURL, environment: environment)
        let port = first!.port
        func json(_ port: UInt16, _ path: String) throws -> [String: Any] { try RawHTTP.json(RawHTTP.request(port: port, path: path)) }
        // Every drill fires and resolves an alert (with notifications that all fail and park).
        let drills = try RawHTTP.request(port: port, method: "POST", path: "/api/v1/nissa/drills")
        #expect(drills.status == 200)
        let alerts = try #require(try json(port, "/api/v1/nissa/alerts?limit=100")["items"] as? [[String: Any]])
        #expect(alerts.count >= 5)
        let id = try #require(alerts.first?["id"] as? String)
        let ack = try RawHTTP.request(
            port: port, method: "POST", path: "/api/v1/nissa/alerts/\(id)/ack", headers: ["Content-Type": "application/json"],
            body: Array(#"{"by":"alice"}"#.utf8))
        #expect(ack.status == 200)
        #expect(
            eventually(within: 20) {
                let items = ((try? json(port, "/api/v1/nissa/deliveries?limit=100"))?["items"] as? [[String: Any]]) ?? []
                return !items.isEmpty && items.allSatisfy { $0["status"] as? String == "undeliverable" }
            })
        let deliveries = try #require(try json(port, "/api/v1/nissa/deliveries?limit=100")["items"] as? [[String: Any]])
        first?.killHard()
        first = nil

        let second = try ServerProcess(dataDirectory: data.path, redisURL: redisURL, environment: environment)
        let restored = try #require(try json(second.port, "/api/v1/nissa/alerts?limit=100")["items"] as? [[String: Any]])
        #expect(Set(restored.compactMap { $0["id"] as? String }) == Set(alerts.compactMap { $0["id"] as? String }))
        let acknowledged = try json(second.port, "/api/v1/nissa/alerts/\(id)")
        #expect(acknowledged["acknowledged_by"] as? String == "alice")
        let after = try #require(try json(second.port, "/api/v1/nissa/deliveries?limit=100")["items"] as? [[String: Any]])
        #expect(Set(after.compactMap { $0["id"] as? String }) == Set(deliveries.compactMap { $0["id"] as? String }))
        #expect(after.allSatisfy { $0["status"] as? String == "undeliverable" })
    }
}

/// Redis killed and frozen (issue 16): with the default 30 s recovery window the server is
/// back well before it, because the breakers probe with backoff from 50 ms on.
@Suite(.serialized) struct RedisOutageTests {
    @Test func aKilledManagedRedisIsUsedAgainWithoutWaitingTheRecoveryWindow() throws {
        let server = try ServerHarness()
        let managed = try #require(server.application.managedRedis)
        #expect(eventually(within: 10) { (try? server.get("/healthz").status) == 200 })
        let first = try #require(managed.pid)
        kill(first, SIGKILL)
        #expect(eventually(within: 5) { (try? server.get("/healthz").status) == 503 })
        // Within 20 s: the old breaker stayed open for its whole 30 s window.
        #expect(eventually(within: 20) { (try? server.get("/healthz").status) == 200 })
    }

    @Test func aFrozenRedisIsDegradedAndRecoversWhenItThaws() throws {
        let server = try ServerHarness()
        let managed = try #require(server.application.managedRedis)
        #expect(eventually(within: 10) { (try? server.get("/healthz").status) == 200 })
        let pid = try #require(managed.pid)
        kill(pid, SIGSTOP)
        defer { kill(pid, SIGCONT) }
        #expect(eventually(within: 15) { (try? server.get("/healthz").status) == 503 })
        kill(pid, SIGCONT)
        #expect(eventually(within: 20) { (try? server.get("/healthz").status) == 200 })
        #expect(managed.pid == pid)
    }
}

/// Every repair leaves a trace (issue 16): a damaged field-report record found at start is
/// named by its offset in the log, kept in quarantine and counted on /metrics.
@Suite(.serialized) struct RepairTraceTests {
    @Test func aDamagedFieldReportRecordIsNamedQuarantinedAndCounted() throws {
        let data = TemporaryDirectory("esper-repair")
        let directory = data.path + "/var/tamiyo"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // A line whose checksum cannot match, then a torn tail.
        let damaged = "00000000 {\"report_id\":\"fr-x\"}\n0123abcd {\"torn"
        try Data(damaged.utf8).write(to: URL(fileURLWithPath: directory + "/field_reports.log"))
        let server = try ServerHarness(data: data)
        let metrics = try server.get("/metrics").text
        #expect(
            metrics.contains(#"esper_repairs_total{component="tamiyo",action="skipped"} 2"#),
            "\(metrics.split(separator: "\n").filter { $0.contains("repairs") })")
        let kept = try FileManager.default.contentsOfDirectory(atPath: directory + "/quarantine")
        #expect(kept.count == 1 && kept[0].hasPrefix("field_reports.log."))
        let quarantined = try String(contentsOfFile: directory + "/quarantine/" + kept[0], encoding: .utf8)
        #expect(quarantined.contains("fr-x") && quarantined.contains("torn"))
        let traces = Repairs.shared.recent.filter { $0.component == "tamiyo" && $0.file.hasPrefix(directory) }
        let repairedOffsets: Set<String> = Set(
            traces.suffix(2).map { (trace) -> String in trace.file.split(separator: "@").last.map(String.init) ?? "" })
        #expect(repairedOffsets == ["0", "\(damaged.utf8.count - 15)"])
        // Rewritten without them: the next start finds nothing to repair.
        #expect(try String(contentsOfFile: directory + "/field_reports.log", encoding: .utf8).isEmpty)
    }
}

/// A server killed with -9 takes its managed redis-server with it (parent-death signal).
@Suite(.serialized) struct ManagedRedisOrphanTests {
    @Test func killingTheServerWithSIGKILLStopsItsRedis() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { return }
        let data = TemporaryDirectory("esper-orphan")
        let port = ServerProcess.freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: EsperBinary.path)
        process.arguments = ["serve", "--port", "\(port)", "--data-dir", data.path + "/var", "--log-level", "error"]
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ESPER_") && $0.key != "REDIS_URL" }
        environment["ESPER_ACCESS_LOG"] = "off"
        environment["ESPER_FORGE_AT_START"] = "off"
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        #expect(eventually(within: 30) { (try? RawHTTP.request(port: port, path: "/api/v1/version").status) == 200 })
        let text = try String(contentsOfFile: data.path + "/var/redis/redis.pid", encoding: .utf8)
        let redis = try #require(Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(kill(redis, 0) == 0)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(eventually(within: 15) { kill(redis, 0) != 0 })
        if kill(redis, 0) == 0 { kill(redis, SIGKILL) }
    }
}
