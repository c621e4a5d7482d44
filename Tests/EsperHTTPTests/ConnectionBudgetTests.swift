import Foundation
import Synchronization
import Testing

@testable import EsperHTTP

/// The connection budget counts a connection when it is admitted, so a burst from one
/// address never passes the cap; each count is released exactly once.
struct ConnectionBudgetTests {
    @Test func admissionsCountAgainstTheCapAtOnce() {
        let budget = ConnectionBudget(maxConnections: 100, perAddress: 2, reserved: 0, trusted: [])
        let admitted = ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"].map { budget.reserve($0) }
        #expect(admitted == [true, true, false, true])
        #expect(budget.held(by: "10.0.0.1") == 2)
        #expect(budget.open == 3)
    }

    @Test func closedReleasesOnceAndResetForgetsEverything() {
        let budget = ConnectionBudget(maxConnections: 100, perAddress: 2, reserved: 0, trusted: [])
        #expect(budget.reserve("10.0.0.1"))
        #expect(budget.reserve("10.0.0.2"))
        #expect(budget.open == 2)
        budget.closed("10.0.0.1")
        budget.closed("10.0.0.1")  // a second release of the same address must not take another's count
        #expect(budget.held(by: "10.0.0.1") == 0)
        #expect(budget.held(by: "10.0.0.2") == 1)
        #expect(budget.open == 1)
        budget.reset()
        #expect(budget.open == 0)
        #expect(budget.reserve("10.0.0.2") && budget.reserve("10.0.0.2"))
    }

    @Test func theReserveIsLeftToLightClients() {
        let budget = ConnectionBudget(maxConnections: 10, perAddress: 0, reserved: 3, trusted: ["10.9.9.9"])
        for _ in 0..<7 { #expect(budget.reserve("10.0.0.1")) }
        #expect(!budget.reserve("10.0.0.1"), "a heavy address stops at the reserve")
        #expect(budget.reserve("10.0.0.2"), "a light client gets in")
        #expect(budget.reserve("10.9.9.9"), "a trusted proxy is exempt")
        #expect(budget.reserve("10.0.0.3"))
        #expect(!budget.reserve("10.0.0.4"), "full")
    }

    @Test func aBurstFromManyThreadsNeverExceedsTheCap() {
        let cap = 3
        let budget = ConnectionBudget(maxConnections: 1000, perAddress: cap, reserved: 0, trusted: [])
        let admitted = Atomic<Int>(0)
        let peak = Mutex(0)
        // Nothing closes, so at most `cap` may ever be admitted.
        DispatchQueue.concurrentPerform(iterations: 64) { _ in
            if budget.reserve("10.0.0.1") { admitted.add(1, ordering: .relaxed) }
            let held = budget.held(by: "10.0.0.1")
            peak.withLock { $0 = max($0, held) }
        }
        #expect(admitted.load(ordering: .relaxed) == cap)
        #expect(peak.withLock { $0 } <= cap)
        for _ in 0..<cap { budget.closed("10.0.0.1") }
        #expect(budget.open == 0)
    }
}
