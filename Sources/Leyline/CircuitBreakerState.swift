/// State of a circuit breaker (commands may ask for one; Oona reports its own).
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum CircuitBreakerState: Int32, LeylineEnum {
    case unknown = 0
    case closed = 1
    case open = 2
    case halfOpen = 3

    public static let protoNames = [
        "CIRCUIT_STATE_UNKNOWN",
        "CIRCUIT_STATE_CLOSED",
        "CIRCUIT_STATE_OPEN",
        "CIRCUIT_STATE_HALF_OPEN",
    ]
}
