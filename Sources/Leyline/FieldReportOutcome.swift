/// How an adaptation turned out, as a field report tells Simic.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum FieldReportOutcome: Int32, LeylineEnum {
    case unspecified = 0
    case success = 1
    case neutral = 2
    case regression = 3
    case aborted = 4

    public static let protoNames = [
        "FIELD_REPORT_OUTCOME_UNSPECIFIED",
        "FIELD_REPORT_OUTCOME_SUCCESS",
        "FIELD_REPORT_OUTCOME_NEUTRAL",
        "FIELD_REPORT_OUTCOME_REGRESSION",
        "FIELD_REPORT_OUTCOME_ABORTED",
    ]
}
