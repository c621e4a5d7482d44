import EsperTestSupport
import Foundation
import Leyline
import Logging
import Oona
import Runs
import Synchronization
import Testing

/// The worker's record outbox is flushed from two threads: the training slot publishes each
/// epoch's record with its bus messages, and the heartbeat flushes whatever waits. However
/// they interleave, every record and every message alongside it reaches Redis exactly once.
@Suite struct RecordPublisherTests {
    @Test func aHeartbeatFlushingMeanwhileLosesAndDoublesNothing() throws {
        let redis = try RedisTestServer()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let bus = try OonaClient(configuration: OonaConfiguration(), endpoint: redis.endpoint, logger: logger)
        defer { bus.stop() }
        let publisher = RecordPublisher(bus: bus, logger: logger)
        let count = 3_000

        // The heartbeat: flushes as often as it can while the epochs are published.
        let done = Atomic<Bool>(false)
        let heartbeat = Thread {
            while !done.load(ordering: .acquiring) { publisher.flush() }
        }
        heartbeat.start()
        for n in 0..<count {
            let record = RunJobRecord(kind: .epoch, runId: "run-1", worker: "w", epoch: n)
            let packet = TelemetryPacket.build(packetId: "alongside-\(n)", source: "test", level: .info, metrics: [])
            publisher.publish(record, alongside: [(.telemetry(packet), PublishOptions())])
        }
        done.store(true, ordering: .releasing)
        #expect(publisher.flush())

        func payloads(_ stream: OonaStream) throws -> [String] {
            let reply = try bus.execute([["XRANGE", bus.keys.key(stream), "-", "+"]])[0]
            return (reply.array ?? []).compactMap { entry in
                guard let fields = entry.array?.last?.array else { return nil }
                let pairs = stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0].text, fields[$0 + 1].text) }
                return pairs.first { $0.0 == "payload" }?.1 ?? nil
            }
        }
        let telemetry = try payloads(.telemetry)
        let records = try payloads(.jobsRecords)
        var alongside = [Int](repeating: 0, count: count)
        for payload in telemetry {
            guard let range = payload.range(of: #""packet_id":"alongside-"#) else { continue }
            let digits = payload[range.upperBound...].prefix { $0.isNumber }
            if let n = Int(digits), n < count { alongside[n] += 1 }
        }
        var epochs = [Int](repeating: 0, count: count)
        for payload in records {
            guard let range = payload.range(of: #""epoch":"#) else { continue }
            let digits = payload[range.upperBound...].prefix { $0.isNumber }
            if let n = Int(digits), n < count { epochs[n] += 1 }
        }
        let wrongMessages = alongside.indices.filter { alongside[$0] != 1 }
        let wrongRecords = epochs.indices.filter { epochs[$0] != 1 }
        #expect(wrongMessages.isEmpty, "\(wrongMessages.count) of \(count) messages not sent exactly once: \(wrongMessages.prefix(10))…")
        #expect(wrongRecords.isEmpty, "\(wrongRecords.count) of \(count) records not sent exactly once: \(wrongRecords.prefix(10))…")
    }
}
