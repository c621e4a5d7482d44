/// Whole run histories (`GET /api/v1/runs/{id}/metrics` without `since` or `fields`) as the
/// API encodes them, kept per run with its row's version. Every change of the run's epochs or
/// events counts up that version too (triggers on `run_epochs` and `run_events`, from any
/// connection or process), as every change of its status does: while the version is the
/// same, so is the history, and an answer is one indexed row read and a copy instead of
/// a hundred rows read and copied. Bounded by bytes, not runs: a history of 4,000 epochs
/// weighs as much as forty of 100.
final class RunHistoryCache: Sendable {
    /// Bytes of histories per generation (two at most are kept).
    static let defaultBudget = 32 << 20

    private let histories: GenerationalCache<String, KeptBytes>
    /// The largest history kept; bigger ones are written every time rather than push out
    /// many others.
    let largest: Int

    init(budget: Int = RunHistoryCache.defaultBudget) {
        histories = GenerationalCache(capacity: budget, cost: { $0.bytes.count }, discard: KeptBytes.free)
        largest = max(1, budget / 8)
    }

    /// Appends the run's kept history when it is kept at `version`.
    func appendKept(_ id: String, version: Int64, to out: inout [UInt8]) -> Bool {
        histories.appendKept([(key: id, version: version)], to: &out)
    }

    func keep(_ id: String, version: Int64, _ history: [UInt8]) {
        guard history.count <= largest else { return }
        histories.set(id, KeptBytes(version: version, bytes: history[...]))
    }
}
