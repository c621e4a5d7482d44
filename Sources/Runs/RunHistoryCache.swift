/// Whole run histories (`GET /api/v1/runs/{id}/metrics` without `since` or `fields`) as the
/// API encodes them, kept per run with its row's version. Every change of the run's epochs or
/// events counts up that version too (triggers on `run_epochs` and `run_events`, from any
/// connection or process), as every change of its status does: while the version is the
/// same, so is the history, and an answer is one indexed row read instead of a hundred rows
/// read and copied. The answer itself is kept, not a copy (nobody changes an answer once
/// written), and only the second time the same history is asked for: a history asked for
/// once (10,000 runs polled at random) is not worth keeping, and keeping every answer cost
/// each such request fresh memory instead of the buffer the last one freed (+20 % CPU).
/// Bounded by bytes, not runs: a history of 4,000 epochs weighs as much as forty of 100.
final class RunHistoryCache: Sendable {
    /// Bytes of histories per generation (two at most are kept).
    static let defaultBudget = 32 << 20

    private struct Kept: Sendable {
        let version: Int64
        let history: [UInt8]
    }

    private let histories: GenerationalCache<String, Kept>
    /// The runs whose history was answered lately, with the version answered.
    private let asked = GenerationalCache<String, Int64>(capacity: 512)
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

    /// Keeps `history` when the same run's history at the same version was answered lately.
    func keep(_ id: String, version: Int64, _ history: [UInt8]) {
        guard history.capacity <= largest else { return }
        if asked.value(id) == version {
            histories.set(id, Kept(version: version, history: history))
        } else {
            asked.set(id, version)
        }
    }
}
