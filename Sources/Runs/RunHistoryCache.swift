/// Whole run histories (`GET /api/v1/runs/{id}/metrics` without `since` or `fields`) as the
/// API encodes them, kept per run with its row's version. Every change of the run's epochs or
/// events counts up that version too (triggers on `run_epochs` and `run_events`, from any
/// connection or process), as every change of its status does: while the version is the
/// same, so is the history, and an answer is one indexed row read instead of a hundred rows
/// read and copied. The answer itself is kept, not a copy: nobody changes an answer once
/// written, so keeping it costs a miss nothing but the entry. Bounded by bytes, not runs: a
/// history of 4,000 epochs weighs as much as forty of 100.
final class RunHistoryCache: Sendable {
    /// Bytes of histories per generation (two at most are kept).
    static let defaultBudget = 32 << 20

    private struct Kept: Sendable {
        let version: Int64
        let history: [UInt8]
    }

    private let histories: GenerationalCache<String, Kept>
    /// The largest history kept; bigger ones are written every time rather than push out
    /// many others.
    let largest: Int

    init(budget: Int = RunHistoryCache.defaultBudget) {
        histories = GenerationalCache(capacity: budget, cost: { $0.history.capacity })
        largest = max(1, budget / 8)
    }

    /// The run's history when it is kept at `version`.
    func kept(_ id: String, version: Int64) -> [UInt8]? {
        guard let kept = histories.value(id), kept.version == version else { return nil }
        return kept.history
    }

    func keep(_ id: String, version: Int64, _ history: [UInt8]) {
        guard history.capacity <= largest else { return }
        histories.set(id, Kept(version: version, history: history))
    }
}
