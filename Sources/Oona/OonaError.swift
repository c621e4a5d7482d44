public import EsperJSON

/// Why a bus operation did not happen. Callers handle each case: `circuitOpen` and
/// `unavailable` mean "try later" (HTTP 503 with Retry-After); `invalidMessage` and
/// `tooLarge` mean the message itself is wrong (HTTP 422/413).
public enum OonaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The breaker is open after consecutive failures: the call failed fast, Redis was not
    /// tried. `retryAfter` is when the breaker will let a probe through.
    case circuitOpen(breaker: String, retryAfter: Duration)
    /// Redis could not be reached or the connection broke.
    case unavailable(String)
    /// Redis answered with an error.
    case redis(String)
    /// The message breaks the contract (version, ranges, ids); nothing was published.
    case invalidMessage([JSONFieldProblem])
    /// The encoded envelope exceeds the bus entry cap.
    case tooLarge(bytes: Int, limit: Int)
    /// The configuration is inconsistent.
    case configuration([String])

    /// Whether trying again later can succeed.
    public var isTransient: Bool {
        switch self {
        case .circuitOpen, .unavailable: true
        default: false
        }
    }

    /// Short stable slug for metrics labels.
    public var reason: String {
        switch self {
        case .circuitOpen: "circuit_open"
        case .unavailable: "unavailable"
        case .redis: "redis_error"
        case .invalidMessage: "invalid_message"
        case .tooLarge: "too_large"
        case .configuration: "configuration"
        }
    }

    public var description: String {
        switch self {
        case .circuitOpen(let breaker, let retryAfter):
            "the \(breaker) circuit breaker is open after repeated Redis failures; retry in \(retryAfter.components.seconds + 1) s"
        case .unavailable(let detail): "Redis is unavailable: \(detail)"
        case .redis(let detail): "Redis refused the command: \(detail)"
        case .invalidMessage(let problems):
            "invalid message: " + problems.map { $0.field.isEmpty ? $0.message : "\($0.field): \($0.message)" }.joined(separator: "; ")
        case .tooLarge(let bytes, let limit): "the envelope is \(bytes) bytes; the bus accepts at most \(limit)"
        case .configuration(let problems): "invalid Oona configuration: " + problems.joined(separator: "; ")
        }
    }
}
