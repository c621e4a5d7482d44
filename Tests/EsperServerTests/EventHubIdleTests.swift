import EsperEvents
import EsperHTTP
import EsperTestSupport
import Foundation
import Leyline
import Logging
import Oona
import Testing

/// The hub with nobody subscribed follows the streams' ends, not their entries: a busy bus
/// costs it (and Redis) nothing per entry, and a subscriber that comes later still gets
/// everything published after it subscribed. On a private redis-server, whose command
/// counters only this hub and this test move.
@Suite struct EventHubIdleTests {
    static func status(_ run: String, _ index: Int) -> TelemetryPacket {
        TelemetryPacket.build(
            packetId: "idle-\(run)-\(index)", source: "tolaria", level: .info, metrics: [],
            events: [
                TelemetryEvent(
                    description: "run_status", level: .info,
                    attributes: ["run_id": run, "status": "running", "epoch": String(index), "message": "run running"])
            ])
    }

    static func waitUntil(_ condition: () throws -> Bool) rethrows -> Bool {
        for _ in 0..<500 {
            if try condition() { return true }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    @Test func nobodySubscribedReadsNoEntriesAndALaterSubscriberMissesNothing() throws {
        let redis = try RedisTestServer()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let bus = try OonaClient(configuration: OonaConfiguration(), endpoint: redis.endpoint, logger: logger)
        defer { bus.stop() }
        let hub = EventHub(bus: bus, options: EventHubOptions(), registry: nil, logger: logger)
        hub.start()
        defer { hub.stop() }
        for index in 0..<300 { _ = try bus.publishTelemetry(Self.status("before", index)) }
        // The hub keeps up with the streams' ends ...
        let telemetryEnd = {
            try bus.execute([["XREVRANGE", bus.keys.key(.telemetry), "+", "-", "COUNT", "1"]])[0].array?.first?.array?.first?.text
        }
        let end = try telemetryEnd()
        #expect(try Self.waitUntil { hub.position.map { "\($0)" }?.contains(end ?? "-") == true })
        // ... without reading a single entry.
        #expect(try redisCommandCalls("xread", on: bus) == 0)

        let stream = EventStream(capacity: 1 << 20)
        try hub.subscribe(stream, runId: "after", types: Set(EventType.allCases), after: nil)
        let connected = stream.bufferedBytes
        _ = try bus.publishTelemetry(Self.status("after", 1))
        // Published after subscribing: it reaches the subscriber (live reads now).
        #expect(Self.waitUntil { stream.bufferedBytes > connected })
        #expect(try redisCommandCalls("xread", on: bus) > 0)
    }
}
