/// The one retry policy of Oona's background loops (consumer groups, polls): 50 ms doubling
/// to 5 s after each failure, back to 50 ms after a success; while a breaker is open, its own
/// recovery window instead (kept between 10 ms and 1 s), so the loop retries when the breaker
/// half-opens rather than later.
public struct OonaBackoff: Sendable {
    public static let initial: Duration = .milliseconds(50)
    public static let maximum: Duration = .seconds(5)
    private var current = OonaBackoff.initial

    public init() {}

    public mutating func reset() { current = OonaBackoff.initial }

    /// How long to wait after `error` before the next attempt.
    public mutating func delay(after error: OonaError) -> Duration {
        if case .circuitOpen(_, let retryAfter) = error { return min(max(retryAfter, .milliseconds(10)), .seconds(1)) }
        defer { current = min(current * 2, OonaBackoff.maximum) }
        return current
    }
}
