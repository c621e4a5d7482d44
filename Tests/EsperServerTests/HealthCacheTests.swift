import EsperHTTP
import EsperTestSupport
import Foundation
import Synchronization
import Testing

@testable import EsperAPI

/// `/healthz` is answered from a snapshot that is refreshed off the request path: while the
/// probes run, requests get the previous answer instead of waiting for them.
@Suite struct HealthCacheTests {
    /// A probe whose answer the test sets, and which can be held inside `check` until released.
    final class ControlledProbe: Sendable {
        let healthy = Atomic<Bool>(true)
        let held = Atomic<Bool>(false)
        let calls = Atomic<Int>(0)
        let release = DispatchSemaphore(value: 0)

        var probe: HealthProbe {
            HealthProbe(name: "controlled") { [self] in
                calls.add(1, ordering: .relaxed)
                if held.load(ordering: .relaxed) { _ = release.wait(timeout: .now() + 30) }
                return healthy.load(ordering: .relaxed)
                    ? HealthCheckResult(status: .ok, detail: "fine") : HealthCheckResult(status: .degraded, detail: "broken")
            }
        }
    }

    @Test func aStaleAnswerIsServedWhileOneRefreshRunsOnItsOwnThread() throws {
        let controlled = ControlledProbe()
        let cache = HealthCache(probes: [controlled.probe], freshFor: .milliseconds(10), staleFor: .seconds(3600))
        #expect(try cache.response().status == 200)
        #expect(controlled.calls.load(ordering: .relaxed) == 1)
        controlled.healthy.store(false, ordering: .relaxed)
        controlled.held.store(true, ordering: .relaxed)
        Thread.sleep(forTimeInterval: 0.05)
        // Stale: the previous answer now, the refresh (held in the probe) elsewhere; only one.
        #expect(try cache.response().status == 200)
        #expect(eventually(within: 10) { controlled.calls.load(ordering: .relaxed) == 2 })
        for _ in 0..<5 { #expect(try cache.response().status == 200) }
        #expect(controlled.calls.load(ordering: .relaxed) == 2)
        controlled.held.store(false, ordering: .relaxed)
        controlled.release.signal()
        #expect(eventually(within: 10) { (try? cache.response().status) == 503 })
        let body = String(decoding: try cache.response().body, as: UTF8.self)
        #expect(body.contains("broken") && body.contains(#""status":"degraded""#), "\(body)")
    }

    @Test func anAnswerPastTheStaleLimitIsComputedByTheRequest() throws {
        let controlled = ControlledProbe()
        let cache = HealthCache(probes: [controlled.probe], freshFor: .zero, staleFor: .zero)
        #expect(try cache.response().status == 200)
        controlled.healthy.store(false, ordering: .relaxed)
        #expect(try cache.response().status == 503)
        #expect(controlled.calls.load(ordering: .relaxed) == 2)
    }

    @Test func aFreshAnswerDoesNotAskTheProbes() throws {
        let controlled = ControlledProbe()
        let cache = HealthCache(probes: [controlled.probe], freshFor: .seconds(3600), staleFor: .seconds(3600))
        for _ in 0..<10 { #expect(try cache.response().status == 200) }
        #expect(controlled.calls.load(ordering: .relaxed) == 1)
    }
}
