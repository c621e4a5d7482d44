import EsperJSON
import Foundation
import Leyline
import Logging
import Oona
import Synchronization

/// A redis-server for one benchmark run: the managed one on a unix socket (the default
/// deployment) or a plain one on TCP loopback.
struct BenchServer {
    let endpoint: RedisEndpoint
    /// Arguments that point redis-benchmark at the same server.
    let benchmarkTarget: [String]
    let label: String
}

enum BusBenchmark {
    /// Entries per round trip, for both redis-benchmark (-P) and Oona (depth); set with
    /// `--pipeline N`.
    nonisolated(unsafe) static var pipeline = 16
    /// Rounds of raw XADD and Oona, alternated; set with `--rounds N`.
    nonisolated(unsafe) static var rounds = 5
    static let messages = 200_000

    static var logger: Logger {
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        return logger
    }

    static func withServer(tcp: Bool, _ body: (BenchServer) throws -> Void) throws {
        let directory = NSTemporaryDirectory() + "esper-bench-oona-\(getpid())-\(tcp ? "tcp" : "unix")"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        if tcp {
            let port = 20_000 + Int(getpid() % 20_000)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
            process.arguments = [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
                "--appendfsync", "everysec", "--dir", directory, "--daemonize", "no", "--logfile", directory + "/redis.log",
            ]
            try process.run()
            defer {
                process.terminate()
                process.waitUntilExit()
            }
            CPUPinning.pinServer(process.processIdentifier)
            let endpoint = RedisEndpoint(address: .tcp(host: "127.0.0.1", port: port))
            var ready = false
            for _ in 0..<250 where !ready {
                if let connection = try? RedisConnection(endpoint: endpoint), (try? connection.command(["PING"])) == .status("PONG") {
                    ready = true
                } else {
                    usleep(20_000)
                }
            }
            guard ready else { throw RedisError("redis-server on port \(port) did not start") }
            try body(BenchServer(endpoint: endpoint, benchmarkTarget: ["-h", "127.0.0.1", "-p", "\(port)"], label: "tcp 127.0.0.1"))
        } else {
            let managed = ManagedRedis(options: ManagedRedis.Options(directory: directory + "/redis"), logger: logger)
            try managed.start()
            defer { managed.stop() }
            if let pid = managed.pid { CPUPinning.pinServer(pid) }
            try body(BenchServer(endpoint: managed.endpoint, benchmarkTarget: ["-s", managed.socketPath], label: "unix socket"))
        }
    }

    static func client(_ server: BenchServer, _ configure: (inout OonaConfiguration) -> Void = { _ in }) throws -> OonaClient {
        var configuration = OonaConfiguration()
        configuration.group = "bench"
        configuration.signer = try LeylineSigner(secret: String(repeating: "s", count: 32))
        configure(&configuration)
        let client = try OonaClient(configuration: configuration, endpoint: server.endpoint, logger: logger)
        try client.ensureConsumerGroup()
        return client
    }

    static func telemetryPacket(_ index: Int) -> TelemetryPacket {
        TelemetryPacket.build(packetId: "bench-\(index)", source: "tolaria", level: .info, metrics: [
            MetricPoint(name: "tolaria.training.loss", value: 0.456, unit: "loss"),
            MetricPoint(name: "tolaria.training.accuracy", value: 0.82, unit: "ratio"),
            MetricPoint(name: "tolaria.training.latency_ms", value: 12.5, unit: "ms"),
            MetricPoint(name: "tolaria.seeds.active", value: 8, unit: "count"),
        ], healthSummary: "stable")
    }

    /// Runs redis-benchmark doing raw XADD of an entry shaped like ours (same key kind, same
    /// MAXLEN, a payload of the same size, a signature and key id), one connection, the same
    /// pipeline depth. Returns requests per second.
    static func redisBenchmark(_ server: BenchServer, key: String, payloadBytes: Int) throws -> (Double, String) {
        let payload = String(repeating: "x", count: payloadBytes)
        let signature = String(repeating: "A", count: 43) + "="
        let arguments =
            server.benchmarkTarget + [
                "-c", "\(clients)", "-P", "\(pipeline)", "-n", "\(messages)", "-q",
                "XADD", key, "MAXLEN", "~", "10000", "*", "payload", payload,
                "signature", signature, "key_id", "0123abcd",
            ]
        let process = Process()
        if CPUPinning.enabled {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
            process.arguments = ["-c", "\(CPUPinning.clientCPU)", "/usr/bin/redis-benchmark"] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-benchmark")
            process.arguments = arguments
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        // "...: 123456.79 requests per second, p50=0.063 msec"
        guard let range = text.range(of: #"[0-9.]+ requests per second"#, options: .regularExpression),
            let rate = Double(text[range].split(separator: " ").first ?? "")
        else {
            throw RedisError("cannot read redis-benchmark output: \(text)")
        }
        let shown =
            (server.benchmarkTarget + [
                "-c", "\(clients)", "-P", "\(pipeline)", "-n", "\(messages)", "-q", "XADD", key, "MAXLEN", "~", "10000",
                "'*'", "payload", "<\(payloadBytes) bytes>", "signature", "<44 bytes>", "key_id", "<8 bytes>",
            ])
            .joined(separator: " ")
        return (rate, (CPUPinning.enabled ? "taskset -c \(CPUPinning.clientCPU) " : "") + "redis-benchmark " + shown)
    }

    /// Raw XADD and Oona publishes, alternated `rounds` times. Reported: the best of each,
    /// and the median and spread of the per-round ratios (each Oona run against the raw run
    /// just before it: the machine is shared, so single runs wander by ±25 %).
    static func throughput(_ server: BenchServer) throws {
        let telemetry = try client(server)
        let sample = BusEnvelope(message: .telemetry(telemetryPacket(0)), eventId: "5f0c7e9e-2b1a-4d5e-9a7b-0c1d2e3f4a5b")
        let payloadBytes = try LeylineCodec.encode(sample).count
        // State packets to the normal stream: the reference routing checks (stream lengths
        // read every round trip) are on, with thresholds set so high they never fire.
        let checked = try client(server) { configuration in
            configuration.maxStreamLength = 1_000_000
            configuration.emergencyThreshold = 900_000
            configuration.backpressureDropThreshold = 1_000_000
        }
        defer {
            telemetry.stop()
            checked.stop()
        }
        let state = LeylineBenchmark.typicalPacket()
        let statePayload = try LeylineCodec.encode(
            BusEnvelope(message: .systemState(state), eventId: "5f0c7e9e-2b1a-4d5e-9a7b-0c1d2e3f4a5b")
        ).count

        var raw: [Double] = [], ours: [Double] = [], rawState: [Double] = [], oursState: [Double] = []
        var command = "", stateCommand = ""
        // Client CPU per message (µs): load-independent where rates are not.
        var rawCPU: [Double] = [], oursCPU: [Double] = [], rawStateCPU: [Double] = [], oursStateCPU: [Double] = []
        for round in 0..<rounds {
            var before = ClientCPU.children()
            let (rate, text) = try redisBenchmark(server, key: "esper:{bus}:bench.raw", payloadBytes: payloadBytes)
            rawCPU.append((ClientCPU.children() - before) / Double(messages) * 1e6)
            raw.append(rate)
            command = text
            ours.append(try publishRate(telemetry) { .telemetry(telemetryPacket($0)) })
            oursCPU.append(lastPublishCPU)
            before = ClientCPU.children()
            let (stateRate, stateText) = try redisBenchmark(server, key: "esper:{bus}:bench.raw2", payloadBytes: statePayload)
            rawStateCPU.append((ClientCPU.children() - before) / Double(messages) * 1e6)
            rawState.append(stateRate)
            stateCommand = stateText
            oursState.append(
                try publishRate(checked) { index in
                    var packet = state
                    packet.globalStep = UInt64(round * messages + index)
                    return .systemState(packet)
                })
            oursStateCPU.append(lastPublishCPU)
        }
        func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
        print(
            String(
                format:
                    "client CPU per message [%@] (median µs, user + system): telemetry raw XADD %.2f, Oona %.2f; state packets raw XADD %.2f, Oona %.2f",
                server.label, median(rawCPU), median(oursCPU), median(rawStateCPU), median(oursStateCPU)))
        func list(_ rates: [Double]) -> String { rates.map { "\(Int($0 / 1000))k" }.joined(separator: "/") }
        func ratios(_ ours: [Double], _ raw: [Double]) -> String {
            let each = zip(ours, raw).map { $0 / $1 }.sorted()
            return String(format: "per-round ratio median %.2f (min %.2f, max %.2f)", each[each.count / 2], each.first!, each.last!)
        }
        print(
            "throughput [\(server.label)]: raw XADD, \(payloadBytes) B payload, \(clients) connection(s), pipeline \(pipeline): best \(Int(raw.max()!)) msg/s (runs \(list(raw)))  — \(command)"
        )
        print(
            String(
                format:
                    "throughput [%@]: Oona publish, telemetry envelopes, signed, %d per round trip, \(clients) publisher(s): best %d msg/s (runs %@), ratio of bests %.2f, %@ (goal ≥ 0.8)",
                server.label, pipeline, Int(ours.max()!), list(ours), ours.max()! / raw.max()!, ratios(ours, raw)))
        print(
            "throughput [\(server.label)]: raw XADD, \(statePayload) B payload: best \(Int(rawState.max()!)) msg/s (runs \(list(rawState)))  — \(stateCommand)"
        )
        print(
            String(
                format:
                    "throughput [%@]: Oona publish, 8-seed state packets to normal, signed, routing checks on: best %d msg/s (runs %@), ratio of bests %.2f, %@ (goal ≥ 0.8)",
                server.label, Int(oursState.max()!), list(oursState), oursState.max()! / rawState.max()!, ratios(oursState, rawState)))
    }

    /// Messages per second publishing `messages` messages, `pipeline` per round trip,
    /// including the envelope, validation, encoding and signing of each.
    /// Publishers (threads, each on its own pooled connection) for Oona and connections
    /// (`-c`) for redis-benchmark; set with `--clients N`.
    nonisolated(unsafe) static var clients = 1

    /// The publishing process' CPU time per message (µs) during the last `publishRate`.
    nonisolated(unsafe) static var lastPublishCPU = 0.0

    static func publishRate(_ client: OonaClient, _ make: (Int) -> BusMessage) throws -> Double {
        if clients > 1 { return try parallelPublishRate(client, make) }
        // The messages exist before the clock starts: building them is the caller's work, the
        // bus' is wrapping, validating, encoding, signing and writing them.
        let all = (0..<messages).map { (make($0), PublishOptions()) }
        _ = try client.publish(batch: Array(all.prefix(3200)), depth: pipeline)  // warm up
        let cpuBefore = ClientCPU.process()
        let start = ContinuousClock.now
        // One call: `pipeline` entries per round trip, the next round trip prepared while
        // Redis works on the current one.
        let outcomes = try client.publish(batch: all, depth: pipeline)
        precondition(outcomes.allSatisfy { $0.wasPublished })
        lastPublishCPU = (ClientCPU.process() - cpuBefore) / Double(messages) * 1e6
        let elapsed = ContinuousClock.now - start
        return Double(messages) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// `clients` threads publishing `messages / clients` each, at the same time.
    static func parallelPublishRate(_ client: OonaClient, _ make: (Int) -> BusMessage) throws -> Double {
        let share = messages / clients
        final class Work: @unchecked Sendable {
            let batches: [[(BusMessage, PublishOptions)]]
            init(_ batches: [[(BusMessage, PublishOptions)]]) { self.batches = batches }
        }
        let work = Work((0..<clients).map { thread in (0..<share).map { (make(thread * share + $0), PublishOptions()) } })
        _ = try client.publish(batch: Array(work.batches[0].prefix(3200)), depth: pipeline)  // warm up
        let done = Atomic<Int>(0)
        let failed = Atomic<Bool>(false)
        let depth = pipeline
        let start = ContinuousClock.now
        for index in 0..<clients {
            let thread = Thread {
                do {
                    let outcomes = try client.publish(batch: work.batches[index], depth: depth)
                    if !outcomes.allSatisfy({ $0.wasPublished }) { failed.store(true, ordering: .relaxed) }
                } catch {
                    failed.store(true, ordering: .relaxed)
                }
                done.add(1, ordering: .releasing)
            }
            thread.start()
        }
        while done.load(ordering: .acquiring) < clients { usleep(200) }
        let elapsed = ContinuousClock.now - start
        precondition(!failed.load(ordering: .relaxed), "a publisher failed")
        return Double(share * clients) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }

    /// Publish→consume latency: one publisher sending a message every 200 µs, one consumer
    /// blocked in XREADGROUP on its own connection; latency is the consumer's clock at the
    /// handler minus the envelope's created_at (same machine, same clock).
    static func latency(_ server: BenchServer) throws {
        let bus = try client(server) { configuration in
            configuration.group = "bench-latency"  // a fresh group: only messages published from now on
            configuration.emergencyThreshold = nil
            configuration.backpressureDropThreshold = nil
        }
        defer { bus.stop() }
        let count = 10_000
        let samples = Mutex<[Int64]>([])
        let running = Atomic<Bool>(true)
        let finished = Atomic<Bool>(false)
        final class Box: @unchecked Sendable {
            let consumer: OonaConsumer
            init(_ consumer: OonaConsumer) { self.consumer = consumer }
        }
        let box = Box(OonaConsumer(client: bus, streams: [.telemetry], name: "bench-consumer"))
        let thread = Thread {
            box.consumer.run(count: 100, block: .milliseconds(100), while: { running.load(ordering: .acquiring) }) { delivery in
                let now = LeylineTimestamp.now()
                let created = delivery.envelope.createdAt
                let nanos = (now.seconds - created.seconds) * 1_000_000_000 + Int64(now.nanos - created.nanos)
                samples.withLock { $0.append(nanos) }
            }
            finished.store(true, ordering: .releasing)
        }
        thread.start()
        usleep(200_000)
        let packet = telemetryPacket(0)
        for _ in 0..<count {
            try bus.publishTelemetry(packet)
            usleep(200)
        }
        let deadline = Date().addingTimeInterval(10)
        while samples.withLock({ $0.count }) < count && Date() < deadline { usleep(10_000) }
        running.store(false, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(10_000) }
        let sorted = samples.withLock { $0 }.sorted()
        guard !sorted.isEmpty else { print("latency [\(server.label)]: no messages received"); return }
        func percentile(_ p: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1000 }
        print(
            String(
                format:
                    "latency [%@]: publish→consume over %d messages (1 every 200 µs): p50 %.0f µs, p99 %.0f µs, max %.0f µs (goal p99 < 1000 µs)",
                server.label, sorted.count, percentile(0.50), percentile(0.99), Double(sorted.last!) / 1000))
    }
}

/// `--pin`: client and server on separate cores, for both redis-benchmark and Oona. Without
/// it (the default, like a real deployment) a unix socket's synchronous wakeup tends to pull
/// redis-server onto the writer's core, so client and server take turns on one core: raw XADD
/// is fastest that way, while Oona's overlap of preparing the next round trip with Redis'
/// work only pays off on separate cores.
enum CPUPinning {
    static let clientCPU = 0
    static let serverCPU = 1
    nonisolated(unsafe) static var enabled = false

    /// Pins the calling process' threads started from now on (call first thing).
    static func pinClient() { pin(getpid(), to: clientCPU) }

    static func pinServer(_ pid: pid_t) { pin(pid, to: serverCPU) }

    /// Through taskset(1): glibc's sched_setaffinity is not visible to Swift without
    /// _GNU_SOURCE.
    private static func pin(_ pid: pid_t, to cpu: Int) {
        guard enabled, ProcessInfo.processInfo.activeProcessorCount > cpu else { return }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/taskset")
        process.arguments = ["-a", "-p", "-c", "\(cpu)", "\(pid)"]
        process.standardOutput = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
    }
}

/// CPU time (user + system, seconds) of this process and of its reaped children
/// (redis-benchmark).
enum ClientCPU {
    static func process() -> Double { seconds(RUSAGE_SELF) }
    static func children() -> Double { seconds(RUSAGE_CHILDREN) }

    private static func seconds(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(who.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
