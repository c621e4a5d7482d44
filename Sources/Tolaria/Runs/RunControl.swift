import Foundation
import Synchronization

/// The channel between the run service (HTTP threads) and one run's training thread. The
/// service posts a request; the trainer reads it between batches. The common case — nothing
/// requested — is one relaxed atomic load per batch; only a pending request takes the lock,
/// and a paused trainer sleeps on the condition without holding its worker slot.
final class RunControl: TrainingControl, @unchecked Sendable {
    enum Request {
        case run, pause, stop, suspend
    }

    /// Guards `request` and `parked`; `@unchecked Sendable` rests on that.
    private let condition = NSCondition()
    private var request = Request.run
    private var parked = false
    private let attention = Atomic<Bool>(false)
    /// Called (on the training thread, no lock held) when the trainer parks for a pause, so
    /// the service can hand its slot to a queued run.
    private let onPark: @Sendable () -> Void

    init(onPark: @escaping @Sendable () -> Void) { self.onPark = onPark }

    func post(_ newRequest: Request) {
        condition.lock()
        request = newRequest
        attention.store(newRequest != .run || parked, ordering: .releasing)
        condition.broadcast()
        condition.unlock()
    }

    func batchBoundary() -> TrainingDirective {
        guard attention.load(ordering: .acquiring) else { return .proceed }
        condition.lock()
        defer { condition.unlock() }
        while true {
            switch request {
            case .run:
                parked = false
                attention.store(false, ordering: .releasing)
                return .proceed
            case .stop:
                return .stop
            case .suspend:
                return .suspend
            case .pause:
                if !parked {
                    parked = true
                    condition.unlock()
                    onPark()
                    condition.lock()
                    continue
                }
                condition.wait()
            }
        }
    }
}
