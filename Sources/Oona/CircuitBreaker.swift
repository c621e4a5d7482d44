public import Leyline
import Synchronization

/// A circuit breaker: it opens after `failureThreshold` consecutive failures, then probes
/// with backoff — half-open after `firstProbe` (50 ms), letting at most `halfOpenTrials` calls
/// through. A successful probe closes it; a failed one opens it again for twice the last wait,
/// up to `maxProbeInterval` (the smaller of `recovery` and 2 s). So a Redis that restarts in a
/// quarter of a second is used again within about as long, not after a whole recovery window,
/// and a long outage costs one probe every two seconds. While open, calls fail fast (no Redis
/// round trip, no timeout to wait out).
public final class CircuitBreaker: Sendable {
    public let name: String
    public let failureThreshold: Int
    public let recovery: Duration
    public let halfOpenTrials: Int

    private struct State {
        var state: CircuitBreakerState = .closed
        var consecutiveFailures = 0
        var openedAt: ContinuousClock.Instant?
        /// The current wait between probes (doubles per failed probe).
        var probeWait: Duration = .zero
        var trialsInFlight = 0
        var opened = 0
    }

    private let state = Mutex(State())
    /// The wait before the first probe after opening.
    public static let firstProbe: Duration = .milliseconds(50)
    /// The longest wait between probes: `recovery` or 2 s, whichever is shorter.
    public var maxProbeInterval: Duration { min(recovery, .seconds(2)) }
    /// Called after every state change (metrics, logs).
    private let onChange: @Sendable (CircuitBreakerState) -> Void

    public init(
        name: String, failureThreshold: Int = 3, recovery: Duration = .seconds(30), halfOpenTrials: Int = 5,
        onChange: @escaping @Sendable (CircuitBreakerState) -> Void = { _ in }
    ) {
        self.name = name
        self.failureThreshold = failureThreshold
        self.recovery = recovery
        self.halfOpenTrials = halfOpenTrials
        self.onChange = onChange
    }

    /// The state now (an open breaker whose window has passed reports half-open).
    public var currentState: CircuitBreakerState {
        state.withLock { state in
            if state.state == .open, let openedAt = state.openedAt, ContinuousClock.now - openedAt >= state.probeWait { return .halfOpen }
            return state.state
        }
    }

    /// How many times it has opened.
    public var openCount: Int { state.withLock { $0.opened } }

    /// Asks to make a call: returns normally when allowed, throws `circuitOpen` when not.
    /// Every allowed call must be followed by `recordSuccess()` or `recordFailure()`.
    public func acquire() throws(OonaError) {
        var changed: CircuitBreakerState?
        let refusal: Duration? = state.withLock { state in
            switch state.state {
            case .closed, .unknown:
                return nil
            case .open:
                let elapsed = ContinuousClock.now - (state.openedAt ?? .now)
                guard elapsed >= state.probeWait else { return state.probeWait - elapsed }
                state.state = .halfOpen
                state.trialsInFlight = 1
                changed = .halfOpen
                return nil
            case .halfOpen:
                guard state.trialsInFlight < halfOpenTrials else { return .milliseconds(100) }
                state.trialsInFlight += 1
                return nil
            }
        }
        if let changed { onChange(changed) }
        if let refusal { throw .circuitOpen(breaker: name, retryAfter: refusal) }
    }

    public func recordSuccess() {
        let changed: CircuitBreakerState? = state.withLock { state in
            state.consecutiveFailures = 0
            guard state.state == .halfOpen else { return nil }
            state.state = .closed
            state.trialsInFlight = 0
            state.openedAt = nil
            return .closed
        }
        if let changed { onChange(changed) }
    }

    public func recordFailure() {
        let changed: CircuitBreakerState? = state.withLock { state in
            state.consecutiveFailures += 1
            switch state.state {
            case .halfOpen:
                state.state = .open
                state.openedAt = .now
                state.probeWait = min(max(state.probeWait * 2, CircuitBreaker.firstProbe), maxProbeInterval)
                state.trialsInFlight = 0
                state.opened += 1
                return .open
            case .closed, .unknown:
                guard state.consecutiveFailures >= failureThreshold else { return nil }
                state.state = .open
                state.openedAt = .now
                state.probeWait = min(CircuitBreaker.firstProbe, maxProbeInterval)
                state.opened += 1
                return .open
            case .open:
                return nil
            }
        }
        if let changed { onChange(changed) }
    }
}
