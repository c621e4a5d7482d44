/// Severity of a telemetry packet or event.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum TelemetryLevel: Int32, LeylineEnum {
    case unspecified = 0
    case info = 1
    case warning = 2
    case error = 3
    case critical = 4

    public static let protoNames = [
        "TELEMETRY_LEVEL_UNSPECIFIED",
        "TELEMETRY_LEVEL_INFO",
        "TELEMETRY_LEVEL_WARNING",
        "TELEMETRY_LEVEL_ERROR",
        "TELEMETRY_LEVEL_CRITICAL",
    ]
}
