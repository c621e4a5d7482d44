import EsperTestSupport
import Leyline
import Logging
import Oona
import Prometheus
import Synchronization

/// A real redis-server and an Oona client on it, configured for tests: exact trimming (so
/// lengths can be asserted), short claim/breaker windows, a quiet logger.
final class TestBus: @unchecked Sendable {
    let redis: RedisTestServer
    let registry = PrometheusCollectorRegistry()
    let client: OonaClient
    var keys: OonaStreamKeys { client.keys }

    init(_ configure: (inout OonaConfiguration) -> Void = { _ in }) throws {
        redis = try RedisTestServer()
        var configuration = OonaConfiguration()
        configuration.group = "oona-test"
        configuration.consumerName = "test-consumer"
        configuration.exactTrimming = true
        configuration.claimMinIdle = .milliseconds(200)
        configuration.claimInterval = .zero + .milliseconds(1)
        configuration.breakerRecovery = .milliseconds(300)
        configuration.statsInterval = .milliseconds(50)
        configure(&configuration)
        client = try OonaClient(configuration: configuration, endpoint: redis.endpoint, registry: registry, logger: TestBus.quietLogger)
        try client.ensureConsumerGroup()
    }

    deinit { client.stop() }

    static var quietLogger: Logger {
        var logger = Logger(label: "oona-test")
        logger.logLevel = .critical
        return logger
    }

    func connection() throws -> RedisConnection { try redis.connection() }

    func length(_ stream: OonaStream) throws -> Int { Int(try connection().command(["XLEN", keys.key(stream)]).integer ?? -1) }

    func deadLetterLength(_ stream: OonaStream) throws -> Int {
        Int(try connection().command(["XLEN", keys.deadLetterKey(stream)]).integer ?? -1)
    }

    /// Pending count of the test group on a stream.
    func pending(_ stream: OonaStream, group: String = "oona-test") throws -> Int {
        Int(try connection().command(["XPENDING", keys.key(stream), group]).array?.first?.integer ?? -1)
    }

    /// Every dead-letter entry's fields.
    func deadLetters(_ stream: OonaStream) throws -> [[String: String]] {
        let reply = try connection().command(["XRANGE", keys.deadLetterKey(stream), "-", "+"])
        return (reply.array ?? []).map { entry in
            var fields: [String: String] = [:]
            let items = entry.array?[1].array ?? []
            for index in stride(from: 0, to: items.count - 1, by: 2) { fields[items[index].text ?? ""] = items[index + 1].text ?? "" }
            return fields
        }
    }

    func consumer(_ streams: [OonaStream], name: String = "test-consumer", group: String? = nil) -> OonaConsumer {
        OonaConsumer(client: client, streams: streams, group: group, name: name)
    }

    /// Polls (without blocking) until `condition` holds or `rounds` polls are done.
    @discardableResult
    func drain(_ consumer: OonaConsumer, rounds: Int = 20, handler: (OonaDelivery) throws -> Void) throws -> OonaPollSummary {
        var total = OonaPollSummary()
        for _ in 0..<rounds {
            let summary = try consumer.poll(count: 10, block: .zero, handler: handler)
            total.delivered += summary.delivered
            total.acknowledged += summary.acknowledged
            total.failed += summary.failed
            total.deadLettered += summary.deadLettered
            total.reclaimed += summary.reclaimed
            if summary == OonaPollSummary() { break }
        }
        return total
    }

    func prometheusText() -> String { registry.emitToString() }
}

/// Collects what handlers saw, from any thread.
final class Recorder: Sendable {
    private let items = Mutex<[OonaDelivery]>([])
    func record(_ delivery: OonaDelivery) { items.withLock { $0.append(delivery) } }
    var all: [OonaDelivery] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

struct HandlerCrash: Error {}

func statePacket(_ index: Int) -> SystemStatePacket {
    var packet = Fixtures.systemState
    packet.packetId = "packet-\(index)"
    packet.currentEpoch = UInt32(index)
    return packet
}

/// Hands a value to another thread in a test (the test guarantees one user at a time).
final class Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
