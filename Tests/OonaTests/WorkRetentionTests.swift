import EsperJSON
import EsperTestSupport
import Leyline
import Oona
import Testing

/// Job-queue streams are work, not history: more jobs waiting than `max_stream_length` are all
/// kept (they were trimmed on the next XADD, and their runs stayed queued for good), and what
/// the consuming groups finished is removed by the sweep.
@Suite struct WorkRetentionTests {
    @Test func jobsBeyondTheStreamLengthWaitAndOnlyFinishedOnesAreRemoved() throws {
        let bus = try TestBus { config in
            config.maxStreamLength = 100
            config.emergencyThreshold = 50
            config.backpressureDropThreshold = 100
        }
        let jobs = 350
        let options = PublishOptions(stream: .jobsTraining, source: "workers")
        let outcomes = try bus.client.publish(batch: (0..<jobs).map { (.unspecified(["n": .int(Int64($0))]), options) })
        #expect(outcomes.allSatisfy { if case .published = $0 { true } else { false } })
        // History streams are still bounded by length.
        for _ in 0..<150 { try bus.client.publishTelemetry(Fixtures.telemetry) }
        #expect(try bus.length(.telemetry) == 100)
        #expect(try bus.length(.jobsTraining) == jobs, "no waiting job was trimmed")
        // No group consumes yet (the bus' own group has no consumer): everything stays.
        #expect(try bus.client.sweepFinishedWork() == 0)
        #expect(try bus.length(.jobsTraining) == jobs)

        // A worker group takes 200 and finishes 150 of them.
        try bus.client.ensureConsumerGroup("workers", streams: [.jobsTraining], from: "0")
        let redis = try bus.connection()
        let read = try redis.command(["XREADGROUP", "GROUP", "workers", "w", "COUNT", "200", "STREAMS", bus.keys.key(.jobsTraining), ">"])
        let ids = (read.array?.first?.array?[1].array ?? []).compactMap { $0.array?.first?.text }
        #expect(ids.count == 200)
        _ = try redis.command(["XACK", bus.keys.key(.jobsTraining), "workers"] + ids.prefix(150))
        #expect(try bus.client.sweepFinishedWork() == 150)
        #expect(try bus.length(.jobsTraining) == jobs - 150, "the 50 in progress and the 150 never delivered stay")
        #expect(try bus.client.sweepFinishedWork() == 0)

        // The same worker, restarted, handles its 50 in progress and the 150 waiting: every job
        // once, none lost; then nothing is left.
        var seen: [Int] = []
        let consumer = bus.consumer([.jobsTraining], name: "w", group: "workers")
        for _ in 0..<40 {
            let summary = try consumer.poll(count: 50, block: .zero) { delivery in
                if case .unspecified(let payload) = delivery.message, let n = payload["n"]?.intValue { seen.append(Int(n)) }
            }
            if summary.delivered == 0 && !seen.isEmpty { break }
        }
        #expect(seen.sorted() == Array(150..<jobs), "the 200 not finished, each once")
        #expect(try bus.client.sweepFinishedWork() == 200)
        #expect(try bus.length(.jobsTraining) == 0)
    }
}
