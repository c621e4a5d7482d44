import EsperHTTP
import Foundation
import Synchronization

/// The `/healthz` answer, kept ready so that no request waits for the probes. Load balancers
/// and benchmarks poll it hard, and the probes' state changes on the scale of seconds, while
/// one refresh is ~650 k instructions (Urza's listing through SQLite, the JSON body): run on a
/// pool thread, or inside a lock another pool thread waits on, it holds up every connection
/// that thread serves.
///
/// - An answer younger than `freshFor` (100 ms) is served as it is.
/// - Older, but younger than `staleFor` (1 s): served as it is, and one refresh starts on a
///   thread of its own; the next requests get its answer once it is swapped in.
/// - None yet, or older than `staleFor` (the first request, or one after a quiet spell): the
///   request computes it itself — outside the lock, so other requests keep being served —
///   because a health checker polling every few seconds must not get an answer that old.
final class HealthCache: Sendable {
    private struct State {
        var response: HTTPResponse?
        /// When the probes of `response` were asked.
        var at: ContinuousClock.Instant
        var refreshing = false
    }

    private let probes: [HealthProbe]
    private let freshFor: Duration
    private let staleFor: Duration
    private let state: Mutex<State>

    init(probes: [HealthProbe], freshFor: Duration = .milliseconds(100), staleFor: Duration = .seconds(1)) {
        self.probes = probes
        self.freshFor = freshFor
        self.staleFor = staleFor
        state = Mutex(State(response: nil, at: .now))
    }

    func response() throws -> HTTPResponse {
        let now = ContinuousClock.now
        let (cached, refresh) = state.withLock { state -> (HTTPResponse?, Bool) in
            guard let response = state.response, now - state.at < staleFor else { return (nil, false) }
            if now - state.at < freshFor || state.refreshing { return (response, false) }
            state.refreshing = true
            return (response, true)
        }
        guard let cached else { return try compute() }
        if refresh {
            let thread = Thread { [self] in
                // A body that cannot be encoded leaves the previous answer; the next stale
                // request tries again.
                _ = try? compute()
                state.withLock { $0.refreshing = false }
            }
            thread.name = "esper-health-refresh"
            thread.start()
        }
        return cached
    }

    /// Asks every probe and swaps the answer in (unless a newer one got there first).
    private func compute() throws -> HTTPResponse {
        let asked = ContinuousClock.now
        var checks: [String: HealthCheckResult] = [:]
        for probe in probes { checks[probe.name] = probe.check() }
        let healthy = checks.values.allSatisfy { $0.status == .ok }
        let report = HealthRoutes.HealthReport(status: healthy ? .ok : .degraded, checks: checks)
        let response = try HTTPResponse.json(report, status: healthy ? 200 : 503)
        state.withLock { state in
            if state.response == nil || state.at <= asked {
                state.response = response
                state.at = asked
            }
        }
        return response
    }
}
