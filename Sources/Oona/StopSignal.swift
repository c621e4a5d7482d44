import Foundation

/// A stop flag a background thread can sleep on: `wait(_:)` returns as soon as `stop()` is
/// called, so a loop's pause between rounds never delays a shutdown (no sleep-and-poll).
public final class StopSignal: @unchecked Sendable {
    // NSCondition guards `stopped`; every access takes it.
    private let condition = NSCondition()
    private var stopped = false

    public init() {}

    public var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Sets the flag and wakes every waiter.
    public func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }

    /// Sleeps up to `duration`, less if stopped meanwhile; returns whether it is stopped.
    @discardableResult
    public func wait(_ duration: Duration) -> Bool {
        let (seconds, attoseconds) = duration.components
        let deadline = Date().addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
        condition.lock()
        defer { condition.unlock() }
        while !stopped && condition.wait(until: deadline) {}
        return stopped
    }
}
