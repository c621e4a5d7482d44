import Foundation
import Leyline
import Simic
import Testing

/// The replay buffer: capacity and TTL eviction, dedupe, deterministic features, seeded sampling.
@Suite struct ReplayBufferTests {
    static func report(
        _ id: String, command: String = "cmd", age hours: Double = 0, metrics: [String: Float] = ["loss_delta": -0.1]
    )
        -> FieldReport
    {
        FieldReport(
            reportId: id, commandId: command, trainingRunId: "run", seedId: "seed-\(id)", blueprintId: "BP008", outcome: .success,
            metrics: metrics, observationWindowEpochs: 3,
            issuedAt: LeylineTimestamp(nanosecondsSinceEpoch: Int64((Date().timeIntervalSince1970 - hours * 3600) * 1e9)))
    }

    let now = Date().timeIntervalSince1970

    @Test func capacityEvictsTheOldestFirst() {
        let buffer = FieldReportReplayBuffer(capacity: 2)
        for i in 0..<4 { buffer.add(ReplayBufferTests.report("r\(i)"), now: now) }
        #expect(buffer.count == 2)
        #expect(buffer.all.map(\.report.reportId) == ["r2", "r3"])
        #expect(buffer.sample(10, seed: 1).count == 2)
        #expect(buffer.statistics.evicted == 2)
    }

    @Test func ttlDropsStaleReportsEvenBehindFreshOnes() {
        let buffer = FieldReportReplayBuffer(capacity: 10, ttlHours: 1)
        #expect(buffer.add(ReplayBufferTests.report("old", age: 2), now: now) == .expired)
        buffer.add(ReplayBufferTests.report("fresh"), now: now)
        buffer.add(ReplayBufferTests.report("half", age: 0.5), now: now)
        #expect(buffer.count == 2)
        // 40 minutes later "half" is 70 minutes old — it sits behind "fresh", and still goes.
        buffer.expire(now: now + 40 * 60)
        #expect(buffer.all.map(\.report.reportId) == ["fresh"])
    }

    @Test func duplicatesAreIgnoredByReportAndCommand() {
        let buffer = FieldReportReplayBuffer()
        #expect(buffer.add(ReplayBufferTests.report("r1", command: "c1"), now: now) == .added)
        #expect(buffer.add(ReplayBufferTests.report("r1", command: "c1"), now: now) == .duplicate)
        #expect(buffer.add(ReplayBufferTests.report("r1", command: "c2"), now: now) == .added)
        #expect(buffer.count == 2 && buffer.statistics.duplicates == 1)
    }

    @Test func featuresAreDeterministicWithSortedMetricKeys() {
        let metrics: [String: Float] = ["zeta": 3, "alpha": 1, "loss_delta": -0.25, "beta": 2]
        let encoder = ExperienceEncoder()
        let e = encoder.experience(ReplayBufferTests.report("r", metrics: metrics), now: now)
        #expect(e.reward == 0.25)
        #expect(e.featuresNumeric.count == 32 && e.metricSequence.count == 16)
        // lossDelta, reward, window, success, then metrics by key: alpha, beta, loss_delta, zeta.
        #expect(Array(e.featuresNumeric[0..<8]) == [-0.25, 0.25, 3, 1, 1, 2, -0.25, 3])
        #expect(e.featuresNumeric[8] == ExperienceEncoder.unitHash("seed-r") && e.featuresNumeric[9] == ExperienceEncoder.unitHash("BP008"))
        #expect(Array(e.metricSequence[0..<5]) == [1, 2, -0.25, 3, 0])
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c — the same in every process.
        #expect(ExperienceEncoder.fnv1a("a") == 0xAF63_DC4C_8601_EC8C)
        #expect(e.blueprintIndex == Int(ExperienceEncoder.fnv1a("BP008") % 1024))
        // Reward without a loss delta comes from the outcome, and never crashes.
        var neutral = ReplayBufferTests.report("n", metrics: [:])
        neutral.outcome = .regression
        #expect(encoder.reward(neutral) == -0.5)
        neutral.outcome = .neutral
        #expect(encoder.reward(neutral) == 0)
    }

    @Test func samplingIsSeededAndWithoutReplacement() {
        let buffer = FieldReportReplayBuffer()
        for i in 0..<50 { buffer.add(ReplayBufferTests.report("r\(i)"), now: now) }
        let a = buffer.sample(10, seed: 42).map(\.report.reportId)
        #expect(a == buffer.sample(10, seed: 42).map(\.report.reportId))
        #expect(a != buffer.sample(10, seed: 43).map(\.report.reportId))
        #expect(Set(a).count == 10)
        let batch = buffer.sampleBatch(3, seed: 1)
        #expect(batch.rows == 3 && batch.features.count == 3 * 32 && batch.metricSequence.count == 3 * 16 && batch.seedIndex.count == 3)
        let empty = FieldReportReplayBuffer().sampleBatch(5, seed: 1)
        #expect(empty.rows == 0 && empty.features.isEmpty && empty.featureDim == 32 && empty.metricWindow == 16)
        #expect(FieldReportReplayBuffer().sample(3, seed: 1).isEmpty)
    }
}
