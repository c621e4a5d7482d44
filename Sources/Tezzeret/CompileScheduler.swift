import Foundation

/// The compile workers the forge and the request pipeline share (06 §12): `workers` threads
/// (1 by default, the capability plan's limit; at most 2) take tasks in submission order.
/// A task for a blueprint that is already compiling waits until that compile finishes, so two
/// compiles of one blueprint never overlap. Tasks run on these threads, never on the caller's.
final class CompileScheduler: @unchecked Sendable {
    // Every mutable property below is guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [(blueprintId: String, body: @Sendable (Int) -> Void)] = []
    private var running: [Int: String] = [:]
    private var stopping = false
    private var started = false
    let workers: Int

    init(workers: Int) { self.workers = max(1, workers) }

    /// Starts the worker threads (idempotent).
    func start() {
        condition.lock()
        defer { condition.unlock() }
        guard !started else { return }
        started = true
        for slot in 0..<workers {
            let thread = Thread { [self] in work(slot: slot) }
            thread.name = "tezzeret-compile-\(slot)"
            thread.start()
        }
    }

    /// Queues `body` (called with the worker slot, which selects the compiler WAL file).
    func submit(_ blueprintId: String, _ body: @escaping @Sendable (Int) -> Void) {
        start()
        condition.lock()
        queue.append((blueprintId, body))
        condition.broadcast()
        condition.unlock()
    }

    /// Worker slots busy right now (their compiler WAL belongs to a live compile).
    var busySlots: Set<Int> {
        condition.lock()
        defer { condition.unlock() }
        return Set(running.keys)
    }

    /// Whether `stop` was called (queued tasks were dropped).
    var isStopping: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Blueprints compiling right now.
    var runningIds: [String] {
        condition.lock()
        defer { condition.unlock() }
        return running.keys.sorted().compactMap { running[$0] }
    }

    /// Lets running tasks finish, drops queued ones, and ends the threads.
    func stop() {
        condition.lock()
        stopping = true
        queue.removeAll()
        condition.broadcast()
        while !running.isEmpty { condition.wait() }
        condition.unlock()
    }

    private func work(slot: Int) {
        condition.lock()
        while true {
            if stopping {
                condition.unlock()
                return
            }
            let busy = Set(running.values)
            if let index = queue.firstIndex(where: { !busy.contains($0.blueprintId) }) {
                let task = queue.remove(at: index)
                running[slot] = task.blueprintId
                condition.unlock()
                task.body(slot)
                condition.lock()
                running[slot] = nil
                condition.broadcast()
            } else {
                condition.wait()
            }
        }
    }
}
