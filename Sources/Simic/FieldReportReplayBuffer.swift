public import Leyline
import Synchronization

/// The bounded replay buffer (04-simic §1, with the "beyond the reference" fixes): reports in
/// arrival order; duplicates (same `report_id` + `command_id`) ignored; every experience
/// older than the TTL dropped (not only a stale front); then the oldest evicted beyond the
/// capacity. Sampling is uniform without replacement from a seeded PCG32, so a job with a
/// fixed seed sees the same sample every time. Thread-safe.
public final class FieldReportReplayBuffer: Sendable {
    public let capacity: Int
    public let ttlSeconds: Double
    public let encoder: ExperienceEncoder
    private let state = Mutex(State())

    struct State {
        var items: [SimicExperience] = []
        var keys: Set<String> = []
        var duplicates = 0
        var evicted = 0
    }

    public init(capacity: Int = 1024, ttlHours: Double = 24, encoder: ExperienceEncoder = ExperienceEncoder()) {
        self.capacity = max(1, capacity)
        ttlSeconds = ttlHours * 3600
        self.encoder = encoder
    }

    static func key(_ report: FieldReport) -> String { report.reportId + "\u{0}" + report.commandId }

    public enum AddOutcome: Sendable, Equatable {
        case added, duplicate, expired
    }

    /// Adds one report (see the type's documentation).
    @discardableResult
    public func add(_ report: FieldReport, now: Double) -> AddOutcome {
        let experience = encoder.experience(report, now: now)
        let cutoff = now - ttlSeconds
        return state.withLock { s in
            let key = FieldReportReplayBuffer.key(report)
            guard !s.keys.contains(key) else {
                s.duplicates += 1
                return .duplicate
            }
            guard experience.timestamp >= cutoff else { return .expired }
            s.items.append(experience)
            s.keys.insert(key)
            prune(&s, cutoff: cutoff)
            return .added
        }
    }

    /// Adds reports in order; returns how many were new.
    @discardableResult
    public func extend(_ reports: [FieldReport], now: Double) -> Int {
        reports.reduce(0) { $0 + (add($1, now: now) == .added ? 1 : 0) }
    }

    /// Drops what the TTL no longer allows (the service calls it before each job).
    public func expire(now: Double) { state.withLock { prune(&$0, cutoff: now - ttlSeconds) } }

    private func prune(_ s: inout State, cutoff: Double) {
        let before = s.items.count
        if s.items.contains(where: { $0.timestamp < cutoff }) {
            for stale in s.items where stale.timestamp < cutoff { s.keys.remove(FieldReportReplayBuffer.key(stale.report)) }
            s.items.removeAll { $0.timestamp < cutoff }
        }
        if s.items.count > capacity {
            for old in s.items.prefix(s.items.count - capacity) { s.keys.remove(FieldReportReplayBuffer.key(old.report)) }
            s.items.removeFirst(s.items.count - capacity)
        }
        s.evicted += before - s.items.count
    }

    /// Counts a report seen again that never reached `add` (the durable log knew it already).
    public func noteDuplicate() { state.withLock { $0.duplicates += 1 } }

    public func clear() { state.withLock { $0 = State() } }

    public var count: Int { state.withLock { $0.items.count } }
    public var all: [SimicExperience] { state.withLock { $0.items } }
    public var statistics: (size: Int, duplicates: Int, evicted: Int) {
        state.withLock { ($0.items.count, $0.duplicates, $0.evicted) }
    }

    /// Everything (in order) when n ≥ size, else n experiences drawn uniformly without
    /// replacement (partial Fisher–Yates over PCG32(seed)), returned in buffer order.
    public func sample(_ n: Int, seed: UInt64) -> [SimicExperience] {
        let items = all
        guard n < items.count else { return items }
        guard n > 0 else { return [] }
        var rng = SimicRandom(seed: seed, stream: 3)
        var indices = Array(items.indices)
        for i in 0..<n { indices.swapAt(i, i + rng.below(indices.count - i)) }
        return indices[0..<n].sorted().map { items[$0] }
    }

    /// Column view of a sample (04-simic §1 `sampleBatch`): zero rows but the right widths
    /// when empty.
    public struct Batch: Sendable {
        public var reward: [Float] = []
        public var lossDelta: [Float] = []
        public var outcomeSuccess: [Float] = []
        /// rows × featureDim
        public var features: [Float] = []
        /// rows × metricWindow
        public var metricSequence: [Float] = []
        public var seedIndex: [Int64] = []
        public var blueprintIndex: [Int64] = []
        public var rows = 0
        public var featureDim: Int
        public var metricWindow: Int
    }

    public func sampleBatch(_ n: Int, seed: UInt64) -> Batch {
        var batch = Batch(featureDim: encoder.featureDim, metricWindow: encoder.metricWindow)
        for e in sample(n, seed: seed) {
            batch.reward.append(Float(e.reward))
            batch.lossDelta.append(Float(e.lossDelta))
            batch.outcomeSuccess.append(e.outcome == .success ? 1 : 0)
            batch.features += e.featuresNumeric
            batch.metricSequence += e.metricSequence
            batch.seedIndex.append(Int64(e.seedIndex))
            batch.blueprintIndex.append(Int64(e.blueprintIndex))
            batch.rows += 1
        }
        return batch
    }
}
