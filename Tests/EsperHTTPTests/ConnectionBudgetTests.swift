import Foundation
import Synchronization
import Testing

@testable import EsperHTTP

/// The connection budget counts a connection when the accept policy admits it, so admissions
/// that have not yet been reported started already hold their place under the cap; each count
/// is released exactly once.
struct ConnectionBudgetTests {
    private final class Results: Sendable { let values = Mutex<[Int: Bool]>([:]) }

    /// Runs the bodies one after the other, each on a thread of its own that stays alive until
    /// all have run (as libmicrohttpd's pool threads do: an exited thread's id can be reused).
    private func onThreads(_ bodies: [@Sendable () -> Bool]) -> [Bool] {
        let results = Results()
        let done = DispatchSemaphore(value: 0)
        let exit = DispatchSemaphore(value: 0)
        for (index, body) in bodies.enumerated() {
            Thread {
                let value = body()
                results.values.withLock { $0[index] = value }
                done.signal()
                exit.wait()
            }.start()
            done.wait()
        }
        for _ in bodies { exit.signal() }
        return results.values.withLock { values in bodies.indices.map { values[$0] ?? false } }
    }

    @Test func anAdmissionNotYetStartedCountsAgainstTheCap() {
        let budget = ConnectionBudget(maxConnections: 100, perAddress: 2, reserved: 0, trusted: [])
        // Two pool threads admit a connection each and neither has reported it started yet.
        let admitted = onThreads([
            { budget.reserve("10.0.0.1") }, { budget.reserve("10.0.0.1") }, { budget.reserve("10.0.0.1") },
            { budget.reserve("10.0.0.2") },
        ])
        #expect(admitted == [true, true, false, true])
        #expect(budget.held(by: "10.0.0.1") == 2)
        #expect(budget.open == 3)
    }

    @Test func startedDoesNotCountTwiceAndClosedReleasesOnce() {
        let budget = ConnectionBudget(maxConnections: 100, perAddress: 2, reserved: 0, trusted: [])
        #expect(budget.reserve("10.0.0.1"))
        budget.started("10.0.0.1")
        #expect(budget.reserve("10.0.0.2"))
        budget.started("10.0.0.2")
        #expect(budget.open == 2)
        budget.closed("10.0.0.1")
        budget.closed("10.0.0.1")  // a second release of the same address must not take another's count
        #expect(budget.held(by: "10.0.0.1") == 0)
        #expect(budget.held(by: "10.0.0.2") == 1)
        #expect(budget.open == 1)
        budget.closed("10.0.0.2")
        #expect(budget.open == 0)
    }

    @Test func anAdmissionRefusedLaterIsReleased() {
        let budget = ConnectionBudget(maxConnections: 100, perAddress: 1, reserved: 0, trusted: [])
        // Admitted, then refused by libmicrohttpd before "started": the same thread's next
        // accept releases it, so the address is not locked out.
        #expect(budget.reserve("10.0.0.1"))
        #expect(budget.reserve("10.0.0.1"))
        #expect(budget.held(by: "10.0.0.1") == 1)
        // At stop, a reservation that never started is released too.
        budget.dropUnstarted()
        #expect(budget.open == 0)
        budget.dropUnstarted()
        #expect(budget.open == 0)
    }

    @Test func aConnectionThatBypassedThePolicyIsCountedAtStart() {
        let budget = ConnectionBudget(maxConnections: 100, perAddress: 3, reserved: 0, trusted: [])
        budget.started("10.0.0.1")
        #expect(budget.held(by: "10.0.0.1") == 1)
        budget.closed("10.0.0.1")
        #expect(budget.open == 0)
    }

    @Test func aBurstFromManyThreadsNeverExceedsTheCap() {
        let cap = 3
        let budget = ConnectionBudget(maxConnections: 1000, perAddress: cap, reserved: 0, trusted: [])
        let admitted = Atomic<Int>(0)
        let peak = Mutex(0)
        // Many threads accept at once, each reporting "started" right after its admission, as
        // libmicrohttpd does; nothing closes, so at most `cap` may ever be admitted.
        DispatchQueue.concurrentPerform(iterations: 64) { _ in
            if budget.reserve("10.0.0.1") {
                admitted.add(1, ordering: .relaxed)
                budget.started("10.0.0.1")
            }
            let held = budget.held(by: "10.0.0.1")
            peak.withLock { $0 = max($0, held) }
        }
        #expect(admitted.load(ordering: .relaxed) == cap)
        #expect(peak.withLock { $0 } <= cap)
        for _ in 0..<cap { budget.closed("10.0.0.1") }
        #expect(budget.open == 0)
    }
}
