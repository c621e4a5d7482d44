import EsperJSON
import EsperTestSupport
import Foundation
import Kernels
import Runs
import Synchronization
import Testing
import Tolaria

/// `esper serve` as a separate process, killed with SIGKILL in the middle of a run and
/// started again on the same data directory.
final class ServerProcess {
    let process = Process()
    let port: UInt16
    let logPath: String
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `port`: the one an earlier server process of the same cluster used (its workers know it).
    init(
        dataDirectory: String, redisURL: String, arguments: [String] = [], environment extra: [String: String] = [:], port: UInt16? = nil
    ) throws {
        self.port = port ?? ServerProcess.freePort()
        process.executableURL = URL(fileURLWithPath: EsperBinary.path)
        process.arguments =
            ["serve", "--port", "\(self.port)", "--data-dir", dataDirectory, "--redis-url", redisURL, "--log-level", "error"] + arguments
        // The test's own environment (OPENBLAS_* included: the kernel OpenBLAS picks decides the
        // last bits of every GEMM) minus any ESPER_* setting that could redirect the server.
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ESPER_") && $0.key != "REDIS_URL" }
        environment["ESPER_ACCESS_LOG"] = "off"
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        // The server's errors (and a crash's last words) for a failing test to show.
        logPath = dataDirectory + "/server-\(self.port).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let ready = eventually(within: 30) { (try? RawHTTP.request(port: self.port, path: "/api/v1/version").status) == 200 }
        guard ready else { throw StartFailure(port: self.port) }
    }

    struct StartFailure: Error, CustomStringConvertible {
        let port: UInt16
        var description: String { "esper serve did not come up on port \(port)" }
    }

    func killHard() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func terminate() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { terminate() }

    /// A port the kernel just handed out (bind to 0, read it back, close).
    static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                _ = bind(fd, pointer, length)
                return getsockname(fd, pointer, &length)
            }
        }
        return UInt16(bigEndian: address.sin_port)
    }
}

@Suite(.serialized) struct RunRecoveryTests {
    @Test func everyAcknowledgedCreateSurvivesAKill9DuringConcurrentCreates() throws {
        // Creates share durable commits (a 202 waits for its group's): the server is killed
        // while eight clients are still creating, and every run it acknowledged is there
        // after the restart, once — a key answered before the kill gives the same run after it.
        let data = TemporaryDirectory("esper-kill-creates")
        let redis = try RedisTestServer()
        guard case .unix(let socketPath) = redis.endpoint.address else { Issue.record("expected a unix socket"); return }
        let url = "unix://\(socketPath)"
        let first = try ServerProcess(dataDirectory: data.path, redisURL: url, arguments: ["--no-local-workers"])
        let body = Array(#"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 2, "learning_rate": 0.01}"#.utf8)
        let acknowledged = Mutex<[(key: String?, id: String)]>([])
        let clients = 8
        let port = first.port
        let pid = first.process.processIdentifier
        DispatchQueue.concurrentPerform(iterations: clients + 1) { client in
            if client == clients {
                // The killer: once 60 creates were acknowledged, with the others still going.
                _ = eventually(within: 120) { acknowledged.withLock { $0.count } >= 60 }
                kill(pid, SIGKILL)
                return
            }
            for n in 0..<40 {
                let key: String? = n % 2 == 0 ? "c\(client)-\(n)" : nil
                var headers = ["Content-Type": "application/json"]
                if let key { headers["Idempotency-Key"] = key }
                guard
                    let response = try? RawHTTP.request(
                        port: port, method: "POST", path: "/api/v1/runs", headers: headers, body: body)
                else { return }  // the server is gone
                guard response.status == 202, let id = (try? RawHTTP.json(response))?["id"] as? String else { return }
                acknowledged.withLock { $0.append((key, id)) }
            }
        }
        first.killHard()  // reaped
        let answered = acknowledged.withLock { $0 }
        #expect(answered.count >= 60)

        let second = try ServerProcess(dataDirectory: data.path, redisURL: url, arguments: ["--no-local-workers"])
        for (key, id) in answered {
            #expect(try RawHTTP.request(port: second.port, path: "/api/v1/runs/\(id)").status == 200, "run \(id) lost")
            if let key {
                let again = try RawHTTP.request(
                    port: second.port, method: "POST", path: "/api/v1/runs",
                    headers: ["Content-Type": "application/json", "Idempotency-Key": key], body: body)
                #expect(try RawHTTP.json(again)["id"] as? String == id, "key \(key) gave another run")
            }
        }
        // No run twice, and nothing but what was asked (acknowledged, or in flight at the kill).
        let listed = try RawHTTP.json(RawHTTP.request(port: second.port, path: "/api/v1/runs?limit=500"))
        let ids = (listed["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        #expect(Set(ids).count == ids.count)
        #expect(Set(answered.map(\.id)).isSubset(of: Set(ids)))
        #expect(ids.count <= answered.count + clients)
        second.terminate()
    }

    static let config = """
        {"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [128, 128]}, "epochs": 120, "learning_rate": 0.003,
         "seed": 5, "checkpoint_interval": 2}
        """

    @Test func aRunInterruptedByKill9ResumesFromItsLastCheckpointAfterARestart() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let data = TemporaryDirectory("esper-kill")
        let redis = try RedisTestServer()
        guard case .unix(let socketPath) = redis.endpoint.address else { Issue.record("expected a unix socket"); return }
        let url = "unix://\(socketPath)"

        let first = try ServerProcess(dataDirectory: data.path, redisURL: url)
        let created = try RawHTTP.request(
            port: first.port, method: "POST", path: "/api/v1/runs",
            headers: ["Content-Type": "application/json"], body: Array(Self.config.utf8))
        #expect(created.status == 202)
        let id = try #require(try RawHTTP.json(created)["id"] as? String)
        func record(_ port: UInt16) throws -> [String: Any] { try RawHTTP.json(RawHTTP.request(port: port, path: "/api/v1/runs/\(id)")) }

        // Kill once a few checkpoints exist and well before the end.
        #expect(try eventually(within: 120) { (try record(first.port)["epoch"] as? Int ?? 0) >= 5 })
        first.killHard()
        let checkpoints = try FileManager.default.contentsOfDirectory(atPath: data.path + "/tolaria/runs/\(id)/checkpoints")
        #expect(!checkpoints.isEmpty)

        let second = try ServerProcess(dataDirectory: data.path, redisURL: url)
        #expect(try eventually(within: 300) { try record(second.port)["status"] as? String == "succeeded" })
        let finished = try record(second.port)
        #expect(finished["restarts"] as? Int == 1)
        let resumedFrom = try #require(finished["resumed_from_epoch"] as? Int)
        #expect(resumedFrom >= 4 && resumedFrom % 2 == 0, "resumed from a checkpoint, not from epoch 0")
        #expect(finished["epoch"] as? Int == 120)
        let metrics = try RawHTTP.json(RawHTTP.request(port: second.port, path: "/api/v1/runs/\(id)/metrics"))
        let epochs = try #require(metrics["epochs"] as? [[String: Any]])
        #expect(epochs.map { $0["epoch"] as? Int } == Array(0..<120))
        let events = (metrics["events"] as? [[String: Any]])?.compactMap { $0["kind"] as? String }.filter {
            $0 != "epoch_hook_latency_high"
        }
        #expect(events == ["resumed", "run_completed"])

        // The crash changed nothing: the same config trained without interruption gives the
        // same final numbers, bit for bit (with the server's one BLAS thread: OpenBLAS splits
        // work differently with more threads).
        Kernels.blasThreads = 1
        let config = try RunConfig.parse(.parse(Self.config))
        let dataset = try DatasetLoader(directory: data.path).load(config.dataset, runSeed: config.seed)
        let split = DataSplit(
            dataset, validationFraction: config.dataset.validationFraction, seed: config.seed,
            scaling: config.dataset.effectiveScaling)
        let sink = InMemoryTrainingSink()
        _ = try Trainer(runId: id, config: config, split: split, checkpoints: nil, sink: sink).run()
        // Decoded with our own decoder: jansson reads back the shortest round-trip form exactly.
        let served = try JanssonDecoder().decode(
            RunMetrics.self,
            from: RawHTTP.request(port: second.port, path: "/api/v1/runs/\(id)/metrics").body)
        #expect(served.epochs.map(\.trainLoss) == sink.summaries.map(\.trainLoss))
        #expect(served.epochs.map(\.validationLoss) == sink.summaries.map(\.validationLoss))
        #expect(served.epochs.map(\.globalStep) == sink.summaries.map(\.globalStep))
        second.terminate()
    }
}
