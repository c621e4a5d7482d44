/// Health of a subsystem as telemetry reports it.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum HealthStatus: Int32, LeylineEnum {
    case unknown = 0
    case healthy = 1
    case degraded = 2
    case unhealthy = 3
    case critical = 4

    public static let protoNames = [
        "HEALTH_STATUS_UNKNOWN",
        "HEALTH_STATUS_HEALTHY",
        "HEALTH_STATUS_DEGRADED",
        "HEALTH_STATUS_UNHEALTHY",
        "HEALTH_STATUS_CRITICAL",
    ]
}
