import Synchronization
public import Tolaria

/// The channel between a worker (its control poller, its shutdown) and one run's training
/// thread. The trainer reads it between batches and at every epoch boundary: one relaxed
/// atomic load each, so the common case — nothing asked — costs nothing.
public final class RunControl: TrainingControl {
    /// 0 proceed, 1 stop, 2 suspend: consulted between batches (stop and shutdown act at once).
    private let atBatch = Atomic<UInt8>(0)
    /// 0 proceed, 2 suspend: consulted at epoch boundaries (a pause checkpoints the epoch).
    private let atEpoch = Atomic<UInt8>(0)

    public init() {}

    /// Cancel at the next batch.
    public func stop() { atBatch.store(1, ordering: .releasing) }
    /// Give the run up at the next batch, resumable from its last checkpoint (worker
    /// shutdown, or the job was reclaimed by another worker).
    public func suspend() { _ = atBatch.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing) }
    /// Give the run up at the next epoch boundary, with a checkpoint of that epoch.
    public func pause(_ paused: Bool) { atEpoch.store(paused ? 2 : 0, ordering: .releasing) }

    public var stopRequested: Bool { atBatch.load(ordering: .acquiring) == 1 }

    public func batchBoundary() -> TrainingDirective { RunControl.directive(atBatch.load(ordering: .acquiring)) }
    public func epochBoundary() -> TrainingDirective {
        let batch = atBatch.load(ordering: .acquiring)
        return batch != 0 ? RunControl.directive(batch) : RunControl.directive(atEpoch.load(ordering: .acquiring))
    }

    static func directive(_ code: UInt8) -> TrainingDirective {
        switch code {
        case 1: .stop
        case 2: .suspend
        default: .proceed
        }
    }
}
