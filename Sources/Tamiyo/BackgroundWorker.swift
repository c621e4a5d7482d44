import Dispatch
import Foundation
import Oona
import Synchronization

/// One thread that runs jobs in the order they were queued: Tamiyo's disk appends (fsync) and
/// bus publishes happen here, so an epoch boundary only enqueues and never waits for a disk or
/// a network. The queue is bounded; when it is full the job is dropped and counted (telemetry
/// is expendable, and the field-report path re-checks its durable state).
public final class BackgroundWorker: Sendable {
    public typealias Job = @Sendable () -> Void

    struct State {
        var jobs: [Job] = []
        var head = 0
        var running = false
        var stopping = false
        var dropped = 0
        var completed = 0
    }

    private let state = Mutex(State())
    /// One count per queued job, plus one for the stop.
    private let signal = DispatchSemaphore(value: 0)
    private let thread: BackgroundThread
    let capacity: Int
    let name: String

    public init(name: String, capacity: Int = 10_000) {
        self.name = name
        self.capacity = capacity
        thread = BackgroundThread(name: name)
        // The loop ends on the queue's own stop (after draining it), not on the thread's signal.
        thread.start { [self] _ in loop() }
    }

    /// Queues a job; false when the queue is full or the worker stopped (the job is dropped).
    @discardableResult
    public func submit(_ job: @escaping Job) -> Bool {
        let accepted = state.withLock { state -> Bool in
            guard !state.stopping, state.jobs.count - state.head < capacity else {
                state.dropped += 1
                return false
            }
            state.jobs.append(job)
            return true
        }
        if accepted { signal.signal() }
        return accepted
    }

    public var dropped: Int { state.withLock { $0.dropped } }
    public var pending: Int { state.withLock { $0.jobs.count - $0.head + ($0.running ? 1 : 0) } }

    /// Blocks until every job queued so far has run (or the timeout passes); true if idle.
    @discardableResult
    public func waitUntilIdle(timeoutSeconds: Double = 10) -> Bool {
        // A marker behind every job queued so far (past the capacity: it is not telemetry):
        // jobs run in order, so when it runs they all have.
        let done = DispatchSemaphore(value: 0)
        let queued = state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            state.jobs.append { done.signal() }
            return true
        }
        guard queued else {
            thread.join(until: ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000)))
            return pending == 0
        }
        signal.signal()
        return done.wait(timeout: .now() + timeoutSeconds) == .success
    }

    /// Runs what is queued (up to the timeout), then ends the thread.
    public func stop(timeoutSeconds: Double = 10) {
        let first = state.withLock { state -> Bool in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        signal.signal()
        thread.join(until: ContinuousClock.now + .milliseconds(Int(timeoutSeconds * 1000)))
    }

    private func loop() {
        while true {
            signal.wait()
            while let job = next() {
                job()
                state.withLock {
                    $0.running = false
                    $0.completed += 1
                }
            }
            if state.withLock({ $0.stopping && $0.head >= $0.jobs.count }) { return }
        }
    }

    private func next() -> Job? {
        state.withLock { state -> Job? in
            guard state.head < state.jobs.count else {
                state.jobs.removeAll(keepingCapacity: true)
                state.head = 0
                return nil
            }
            let job = state.jobs[state.head]
            state.head += 1
            state.running = true
            // Keep the array from growing without bound while the worker keeps up.
            if state.head > 1024 && state.head * 2 > state.jobs.count {
                state.jobs.removeFirst(state.head)
                state.head = 0
            }
            return job
        }
    }
}
