import EsperJSON
import EsperTestSupport
import Foundation
import Kernels
import Oona
import Runs
import Testing
import Tolaria

/// `esper worker` as a separate process working for a server process (`--no-local-workers`)
/// through a real redis-server, killed with SIGKILL when the test says so.
final class WorkerChild {
    let process = Process()

    init(
        redisURL: String, serverPort: UInt16, checkpoints: String, dataDirectory: String, environment extra: [String: String] = [:]
    ) throws {
        process.executableURL = URL(fileURLWithPath: EsperBinary.path)
        process.arguments = [
            "worker", "--redis-url", redisURL, "--server-url", "http://127.0.0.1:\(serverPort)", "--checkpoint-dir", checkpoints,
            "--slots", "1", "--log-level", "info", "--data-dir", dataDirectory,
        ]
        logPath = dataDirectory + "/worker.log"
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ESPER_") && $0.key != "REDIS_URL" }
        for (key, value) in extra { environment[key] = value }
        process.environment = environment
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// The worker's log (info level), for failure messages.
    let logPath: String
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    var pid: Int32 { process.processIdentifier }

    func killHard() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

@Suite(.serialized) struct WorkerProcessTests {
    /// Short claim timeout: a dead worker's job is taken over within seconds.
    static let busSettings = ["OONA_CLAIM_MIN_IDLE_MS": "1500"]

    /// How long a step may take (a worker taking a job, letting it go, a registry entry
    /// changing): seconds alone, but this suite runs beside some 600 other tests on two
    /// cores, where pauseAndResume took 133 s against 9 s alone. A deadline costs time only
    /// when it is missed, so it is set for the loaded machine.
    static let step: Double = 120
    /// How long whole runs may take to finish (sixRuns: 83 s alone, 385–410 s in the full suite).
    static let runs: Double = 900

    struct Cluster {
        let data = TemporaryDirectory("esper-workers")
        let redis: RedisTestServer
        let url: String
        /// Replaced when a test restarts the server (on the same port).
        var server: ServerProcess
        var checkpoints: String { data.path + "/tolaria/runs" }

        init(environment: [String: String]) throws {
            redis = try RedisTestServer()
            guard case .unix(let socketPath) = redis.endpoint.address else { throw StartFailure() }
            url = "unix://\(socketPath)"
            server = try ServerProcess(
                dataDirectory: data.path, redisURL: url, arguments: ["--no-local-workers"], environment: environment)
        }

        struct StartFailure: Error {}

        func worker(_ environment: [String: String]) throws -> WorkerChild {
            // The worker's own state (its kernel-library mirror, Tamiyo's field reports).
            let local = data.path + "/worker-" + UUID().uuidString.prefix(8)
            try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
            return try WorkerChild(
                redisURL: url, serverPort: server.port, checkpoints: checkpoints, dataDirectory: local, environment: environment)
        }

        func submit(_ config: String) throws -> String {
            let created = try RawHTTP.request(
                port: server.port, method: "POST", path: "/api/v1/runs", headers: ["Content-Type": "application/json"],
                body: Array(config.utf8))
            #expect(created.status == 202)
            return try #require(try RawHTTP.json(created)["id"] as? String)
        }

        func run(_ id: String) throws -> [String: Any] { try FleetTests.get(server.port, "/api/v1/runs/\(id)") }

        /// Every live worker, the server's own slot (policy and compile jobs) included.
        func allWorkers() throws -> [[String: Any]] {
            try FleetTests.get(server.port, "/api/v1/workers")["items"] as? [[String: Any]] ?? []
        }

        /// The `esper worker` processes.
        func workers() throws -> [[String: Any]] { try allWorkers().filter { $0["local"] as? Bool == false } }

        /// The pid of the live worker holding `runId`, if any.
        func holder(of runId: String) throws -> Int32? {
            for worker in try workers() {
                let jobs = worker["jobs"] as? [[String: Any]] ?? []
                if jobs.contains(where: { $0["run_id"] as? String == runId }) { return (worker["pid"] as? Int).map { Int32($0) } }
            }
            return nil
        }
    }

    static func config(seed: Int, epochs: Int) -> String {
        """
        {"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [64]}, "epochs": \(epochs), "learning_rate": 0.003,
         "seed": \(seed), "checkpoint_interval": 2}
        """
    }

    @Test func sixRunsSpreadOverTwoWorkersAndAKilledWorkersRunFinishesOnTheOtherFromItsCheckpoint() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let cluster = try Cluster(environment: Self.busSettings)
        let first = try cluster.worker(Self.busSettings)
        let second = try cluster.worker(Self.busSettings)
        // Long enough that a run is still going when the worker is killed: on a quiet machine an
        // epoch of this config takes about 2 ms, and 80 epochs could end before the kill landed.
        let epochs = 1000
        let ids = try (1...6).map { try cluster.submit(Self.config(seed: $0, epochs: epochs)) }

        // Both workers are live and busy; each holds one of the runs.
        var seen: [Int32: Set<String>] = [:]
        #expect(
            try eventually(within: Self.step) {
                for worker in try cluster.workers() {
                    guard let pid = (worker["pid"] as? Int).map({ Int32($0) }) else { continue }
                    for job in worker["jobs"] as? [[String: Any]] ?? [] {
                        if let run = job["run_id"] as? String { seen[pid, default: []].insert(run) }
                    }
                }
                return seen[first.pid] != nil && seen[second.pid] != nil
            })
        // The server's own slot takes compile jobs only (they need its stores).
        let all = try cluster.allWorkers()
        #expect(all.filter { $0["local"] as? Bool == true }.map { $0["kinds"] as? [String] ?? [] } == [["compile"]])
        let listed = all.filter { $0["local"] as? Bool == false }
        #expect(Set(listed.compactMap { $0["pid"] as? Int }) == [Int(first.pid), Int(second.pid)])
        #expect(
            listed.allSatisfy {
                $0["local"] as? Bool == false && $0["slots"] as? Int == 1
                    && Set($0["kinds"] as? [String] ?? []) == ["training", "policy", "compile"]
            })

        // Kill the first worker once the run it holds is a few checkpoints in.
        var victim: String?
        #expect(
            try eventually(within: Self.step) {
                for id in ids where try cluster.holder(of: id) == first.pid {
                    let epoch = try cluster.run(id)["epoch"] as? Int ?? 0
                    if epoch >= 5 && epoch <= epochs / 2 {
                        victim = id
                        return true
                    }
                }
                return false
            })
        let killed = try #require(victim)
        first.killHard()

        // Everything finishes on the second worker; the killed run from its checkpoint.
        let deadline = Date().addingTimeInterval(Self.runs)
        for id in ids {
            #expect(
                try eventually(within: max(1, deadline.timeIntervalSinceNow)) { try cluster.run(id)["status"] as? String == "succeeded" },
                "run \(id)")
        }
        let record = try cluster.run(killed)
        #expect(record["restarts"] as? Int == 1)
        let resumedFrom = try #require(record["resumed_from_epoch"] as? Int)
        #expect(resumedFrom >= 4 && resumedFrom % 2 == 0, "resumed from a checkpoint, not from epoch 0")
        #expect(record["epoch"] as? Int == epochs)
        let served = try JanssonDecoder().decode(
            RunMetrics.self, from: RawHTTP.request(port: cluster.server.port, path: "/api/v1/runs/\(killed)/metrics").body)
        #expect(served.epochs.map(\.epoch) == Array(0..<epochs), "every epoch once")

        // The loss curve continued: the same run trained without interruption gives the same
        // numbers, bit for bit.
        Kernels.blasThreads = 1
        let config = try RunConfig.parse(.parse(Self.config(seed: ids.firstIndex(of: killed)! + 1, epochs: epochs)))
        let dataset = try DatasetLoader(directory: cluster.data.path).load(config.dataset, runSeed: config.seed)
        let split = DataSplit(
            dataset, validationFraction: config.dataset.validationFraction, seed: config.seed, scaling: config.dataset.effectiveScaling)
        let sink = InMemoryTrainingSink()
        _ = try Trainer(runId: killed, config: config, split: split, checkpoints: nil, sink: sink).run()
        #expect(served.epochs.map(\.trainLoss) == sink.summaries.map(\.trainLoss))
        #expect(served.epochs.map(\.validationLoss) == sink.summaries.map(\.validationLoss))

        // Each run was trained by a worker: the kill left one worker listed.
        #expect(try eventually(within: Self.step) { try cluster.workers().compactMap { $0["pid"] as? Int } == [Int(second.pid)] })

        // Redis Cluster readiness: every key the bus, the job queue and the workers wrote
        // (streams, dead letters, leases, run controls, the worker registry) hashes by the
        // same tag, so it would live in one cluster slot.
        let keys = try cluster.redis.connection().command(["KEYS", "*"]).array?.compactMap(\.text) ?? []
        #expect(keys.contains("esper:{bus}:jobs.training") && keys.contains("esper:{bus}:jobs.records"))
        #expect(keys.contains("esper:{bus}:workers"))
        for key in keys { #expect(Self.hashTag(key) == "bus", "\(key)") }
    }

    @Test func pauseAndResumeReachTheRemoteWorkerAndTheRunLosesNothing() throws {
        let cluster = try Cluster(environment: Self.busSettings)
        let worker = try cluster.worker(Self.busSettings)
        let epochs = 200
        let id = try cluster.submit(Self.config(seed: 3, epochs: epochs))
        #expect(try eventually(within: Self.step) { (try cluster.run(id)["epoch"] as? Int ?? 0) >= 3 })

        let paused = try RawHTTP.json(RawHTTP.request(port: cluster.server.port, method: "POST", path: "/api/v1/runs/\(id)/pause"))
        #expect(paused["status"] as? String == "paused")
        // The worker checkpoints the epoch it is in and lets the run go.
        #expect(try eventually(within: Self.step) { try cluster.holder(of: id) == nil })
        // (The server applies the records the worker sent before letting go; then the epoch
        // stays where the pause left it.)
        var stoppedAt = -1
        #expect(
            try eventually(within: Self.step) {
                let before = try cluster.run(id)["epoch"] as? Int ?? 0
                Thread.sleep(forTimeInterval: 1)
                stoppedAt = try cluster.run(id)["epoch"] as? Int ?? 0
                return before == stoppedAt
            })
        #expect(stoppedAt > 0 && stoppedAt < epochs)

        // The freed worker takes the next run; a stop reaches it at the next batch.
        let other = try cluster.submit(Self.config(seed: 8, epochs: 100_000))
        #expect(try eventually(within: Self.step) { try cluster.holder(of: other) == worker.pid })
        let stopped = try RawHTTP.json(RawHTTP.request(port: cluster.server.port, method: "POST", path: "/api/v1/runs/\(other)/stop"))
        #expect(stopped["status"] as? String == "cancelled")
        #expect(try eventually(within: Self.step) { try cluster.holder(of: other) == nil })
        #expect(try cluster.run(other)["status"] as? String == "cancelled")

        let resumed = try RawHTTP.json(RawHTTP.request(port: cluster.server.port, method: "POST", path: "/api/v1/runs/\(id)/resume"))
        #expect(resumed["status"] as? String == "queued")
        // On a quiet machine the rest of the run takes well under a second, less than a
        // heartbeat: seeing the worker hold it is not guaranteed, its log of taking the
        // resumed job is.
        #expect(try eventually(within: Self.runs) { try cluster.run(id)["status"] as? String == "succeeded" })
        #expect(worker.log.contains("reason=resumed run=\(id)"), "\(worker.log.suffix(2000))")
        let record = try cluster.run(id)
        #expect(record["restarts"] as? Int == 0, "a user's pause is not a restart")
        #expect(record["resumed_from_epoch"] as? Int == stoppedAt, "resumed from the pause's own checkpoint")
        let served = try JanssonDecoder().decode(
            RunMetrics.self, from: RawHTTP.request(port: cluster.server.port, path: "/api/v1/runs/\(id)/metrics").body)
        #expect(served.epochs.map(\.epoch) == Array(0..<epochs))
        #expect(served.events.map(\.kind).filter { $0 != .epochHookLatencyHigh } == [.resumed, .runCompleted])
    }

    /// Two worker processes finish sixty short runs while a reader polls, over HTTP, the
    /// two oldest runs it has not yet seen finish (the ones the workers hold): a run it reads
    /// as `succeeded` already has its whole history — every epoch once, in order, and
    /// `run_completed` once as its last event. (With the event recorded after the status, as
    /// before, the reader caught runs without it in 3 of 4 tries; the in-process
    /// RunRecordsTests.aFinishedStatusIsNeverSeenBeforeTheRunsLastEvent catches it every time.)
    @Test func aRunReadAsFinishedOverHTTPHasItsWholeHistoryAlready() throws {
        let cluster = try Cluster(environment: Self.busSettings)
        let workers = [try cluster.worker(Self.busSettings), try cluster.worker(Self.busSettings)]
        let epochs = 4
        let ids = try (0..<60).map { seed in
            try cluster.submit(
                #"{"dataset": {"kind": "two_moons", "samples": 200}, "model": {"hidden_sizes": [8]}, "epochs": \#(epochs), "learning_rate": 0.01, "seed": \#(seed)}"#
            )
        }
        var unseen = ids
        var incomplete: [String] = []
        var polls = 0
        let deadline = Date().addingTimeInterval(Self.runs)
        while !unseen.isEmpty && Date() < deadline {
            let id = unseen[polls % min(2, unseen.count)]
            polls += 1
            let run = try RawHTTP.json(RawHTTP.request(port: cluster.server.port, path: "/api/v1/runs/\(id)"))
            guard let status = run["status"] as? String, status == "succeeded" || status == "failed" else { continue }
            unseen.removeAll { $0 == id }
            // Read right after the status: what a client polling the run reads next.
            let served = try JanssonDecoder().decode(
                RunMetrics.self, from: RawHTTP.request(port: cluster.server.port, path: "/api/v1/runs/\(id)/metrics").body)
            let events = served.events.map(\.kind).filter { $0 != .epochHookLatencyHigh }
            if status != "succeeded" || served.epochs.map(\.epoch) != Array(0..<epochs) || events.last != .runCompleted
                || events.filter({ $0 == .runCompleted }).count != 1
            {
                incomplete.append("\(id) \(status): epochs \(served.epochs.map(\.epoch)), events \(events)")
            }
        }
        #expect(unseen.isEmpty, "runs not finished: \(unseen.count)")
        #expect(incomplete.isEmpty, "\(incomplete.count) of \(ids.count) runs: \(incomplete.prefix(3))")
        for worker in workers { #expect(worker.process.isRunning, "\(worker.log.suffix(1000))") }
    }

    @Test func aWorkerThatLosesRedisKeepsItsEpochAndReconnects() throws {
        var settings = Self.busSettings
        settings["OONA_CLAIM_MIN_IDLE_MS"] = "10000"
        settings["OONA_BREAKER_RECOVERY_MS"] = "200"
        let cluster = try Cluster(environment: settings)
        let worker = try cluster.worker(settings)
        let epochs = 300
        let id = try cluster.submit(Self.config(seed: 4, epochs: epochs))
        #expect(try eventually(within: Self.step) { (try cluster.run(id)["epoch"] as? Int ?? 0) >= 5 })

        // Redis dies (its supervisor brings it back with the append-only file) while the
        // worker trains on.
        kill(try #require(cluster.redis.managed.pid), SIGKILL)
        #expect(try eventually(within: Self.runs) { try cluster.run(id)["status"] as? String == "succeeded" })
        let record = try cluster.run(id)
        #expect(record["restarts"] as? Int == 0, "the worker kept its run")
        #expect(record["resumed_from_epoch"] is NSNull || record["resumed_from_epoch"] == nil)
        let served = try JanssonDecoder().decode(
            RunMetrics.self, from: RawHTTP.request(port: cluster.server.port, path: "/api/v1/runs/\(id)/metrics").body)
        #expect(served.epochs.map(\.epoch) == Array(0..<epochs), "epochs trained while Redis was away were delivered later")
        #expect(cluster.redis.managed.restartCount >= 1)
        #expect(try eventually(within: Self.step) { try cluster.workers().compactMap { $0["pid"] as? Int } == [Int(worker.pid)] })
    }

    @Test func aWorkerWithoutItsRedisServerOrCheckpointDirectoryRefusesToStart() throws {
        let directory = TemporaryDirectory("esper-worker-config")
        for (arguments, variable) in [
            (["worker", "--server-url", "http://127.0.0.1:1", "--checkpoint-dir", directory.path], "REDIS_URL"),
            (["worker", "--redis-url", "unix:///tmp/none.sock", "--checkpoint-dir", directory.path], "ESPER_SERVER_URL"),
            (["worker", "--redis-url", "unix:///tmp/none.sock", "--server-url", "http://127.0.0.1:1"], "ESPER_CHECKPOINT_DIR"),
            (
                ["worker", "--redis-url", "unix:///tmp/none.sock", "--server-url", "ftp://x", "--checkpoint-dir", directory.path],
                "ESPER_SERVER_URL"
            ),
        ] {
            let result = try EsperBinary.run(arguments + ["--data-dir", directory.path], workingDirectory: directory.path)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains(variable), "\(result.stderr)")
        }
    }

    @Test func aRunWithAControlPolicyGrowsOnARemoteWorkerWithKernelsFromTheServer() throws {
        var settings = Self.busSettings
        settings["ESPER_SEED_WIDTH"] = "16"
        settings["ESPER_COMPILE_STRATEGY"] = "emergency"
        settings["ESPER_FORGE_AT_START"] = "off"
        let cluster = try Cluster(environment: settings)
        // BP008 compiled by the server's Tezzeret into the server's Urza.
        let compile = try RawHTTP.request(
            port: cluster.server.port, method: "POST", path: "/api/v1/tezzeret/jobs", headers: ["Content-Type": "application/json"],
            body: Array(#"{"blueprint_id": "BP008", "parameters": {}}"#.utf8))
        #expect(compile.status == 202, "\(compile.text)")
        let job = try #require(try RawHTTP.json(compile)["job_id"] as? String)
        #expect(
            try eventually(within: Self.step) {
                try RawHTTP.json(RawHTTP.request(port: cluster.server.port, path: "/api/v1/tezzeret/jobs/\(job)"))["status"] as? String
                    == "succeeded"
            })
        let worker = try cluster.worker(settings)

        // The acceptance experiment's helpful run: BP008 grafted, gated and fossilised.
        let id = try cluster.submit(AcceptanceRun.helpful)
        #expect(try eventually(within: Self.runs) { ["succeeded", "failed"].contains(try cluster.run(id)["status"] as? String) })
        let finished = try cluster.run(id)
        #expect(finished["status"] as? String == "succeeded", "\(finished["error"] ?? "")\n\(worker.log.suffix(3000))")
        let latest = try #require(try cluster.run(id)["latest_metrics"] as? [String: Any])
        let slot = (latest["slots"] as? [[String: Any]])?.first { $0["name"] as? String == "slot-0" }
        #expect(slot?["module"] as? String == "kasmina" && slot?["parameters"] as? Int == 280, "\(String(describing: slot))")
        let seeds = latest["seeds"] as? [[String: Any]] ?? []
        #expect(seeds.first?["stage"] as? String == "SEED_STAGE_FOSSILIZED", "\(seeds)")
    }

    /// The part of a key Redis Cluster hashes: between the first `{` and the next `}`, when
    /// that is non-empty; else the whole key.
    static func hashTag(_ key: String) -> String {
        guard let open = key.firstIndex(of: "{"), let close = key[key.index(after: open)...].firstIndex(of: "}"),
            close > key.index(after: open)
        else { return key }
        return String(key[key.index(after: open)..<close])
    }

    @Test func aJobThatKeepsKillingWorkersIsDeadLetteredAndItsRunFailsWithTheReason() throws {
        var settings = Self.busSettings
        settings["OONA_MAX_ATTEMPTS"] = "2"
        let cluster = try Cluster(environment: settings)
        var workers = [try cluster.worker(settings)]
        let id = try cluster.submit(Self.config(seed: 9, epochs: 100_000))

        // Whichever worker takes the run dies; a fresh one takes over — until the job has been
        // delivered more often than OONA_MAX_ATTEMPTS allows.
        var kills = 0
        #expect(
            try eventually(within: Self.runs) {
                if try cluster.run(id)["status"] as? String == "failed" { return true }
                if let pid = try cluster.holder(of: id), let worker = workers.first(where: { $0.pid == pid && $0.process.isRunning }) {
                    worker.killHard()
                    kills += 1
                    workers.append(try cluster.worker(settings))
                }
                return false
            })
        #expect(kills == 2)
        let record = try cluster.run(id)
        let error = try #require(record["error"] as? String)
        #expect(error.contains("dead-lettered") && error.contains("max_attempts_exceeded"), "\(error)")
        let events = try RawHTTP.json(RawHTTP.request(port: cluster.server.port, path: "/api/v1/runs/\(id)/metrics"))["events"]
        #expect((events as? [[String: Any]])?.last?["kind"] as? String == "run_failed")
        let redis = try cluster.redis.connection()
        #expect(try redis.command(["XLEN", "esper:{bus}:jobs.training.dlq"]).integer == 1)
        let letter = try redis.command(["XRANGE", "esper:{bus}:jobs.training.dlq", "-", "+"]).array?.first?.array?[1].array ?? []
        let fields = stride(from: 0, to: letter.count - 1, by: 2).reduce(into: [String: String]()) {
            $0[letter[$1].text ?? ""] = letter[$1 + 1].text
        }
        #expect(fields["reason"] == "max_attempts_exceeded")
    }
}
