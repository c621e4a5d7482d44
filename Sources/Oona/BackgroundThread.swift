import Dispatch
import Foundation
import Synchronization

/// One named thread a service owns, with an orderly end: `requestStop` sets its `StopSignal`
/// (which also cuts short any pause the body takes on it) and `join` waits until the body has
/// returned. It can be started again once joined.
public final class BackgroundThread: Sendable {
    public let name: String
    private let stackSize: Int?
    /// The running body's stop signal and its end (nil: not running).
    private let current = Mutex<(stop: StopSignal, finished: DispatchSemaphore)?>(nil)

    public init(name: String, stackSize: Int? = nil) {
        self.name = name
        self.stackSize = stackSize
    }

    public var isRunning: Bool { current.withLock { $0 != nil } }

    /// Runs `body` on a new thread; false (and nothing runs) while one is running already.
    @discardableResult
    public func start(_ body: @escaping @Sendable (StopSignal) -> Void) -> Bool {
        let stop = StopSignal()
        let finished = DispatchSemaphore(value: 0)
        let first = current.withLock { current -> Bool in
            guard current == nil else { return false }
            current = (stop, finished)
            return true
        }
        guard first else { return false }
        let thread = Thread {
            defer { finished.signal() }
            body(stop)
        }
        thread.name = name
        if let stackSize { thread.stackSize = stackSize }
        thread.start()
        return true
    }

    /// Runs `round` now and then every `interval` (after each round ends) until stopped.
    @discardableResult
    public func startLoop(every interval: Duration, _ round: @escaping @Sendable () -> Void) -> Bool {
        start { stop in
            while !stop.isStopped {
                round()
                stop.wait(interval)
            }
        }
    }

    /// Tells the body to stop without waiting (to stop several threads at once, then join).
    public func requestStop() {
        current.withLock { $0?.stop }?.stop()
    }

    /// Waits for the body to return (until `deadline`, if given); true once it has (or when
    /// nothing runs).
    @discardableResult
    public func join(until deadline: ContinuousClock.Instant? = nil) -> Bool {
        guard let finished = current.withLock({ $0?.finished }) else { return true }
        var timeout = DispatchTime.distantFuture
        if let deadline {
            let left = max(deadline - ContinuousClock.now, .zero).components
            timeout = .now() + .nanoseconds(Int(left.seconds) * 1_000_000_000 + Int(left.attoseconds / 1_000_000_000))
        }
        guard finished.wait(timeout: timeout) == .success else { return false }
        finished.signal()  // for any other joiner of the same run
        current.withLock { current in
            if current?.finished === finished { current = nil }
        }
        return true
    }

    /// Stops the body and waits for it.
    public func stop() {
        requestStop()
        join()
    }
}
