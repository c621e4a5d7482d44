/// Which message a bus envelope carries; decides how its payload is read.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum BusMessageType: Int32, LeylineEnum {
    case unspecified = 0
    case systemState = 1
    case adaptationCommand = 2
    case fieldReport = 3
    case telemetry = 4
    case policyUpdate = 5

    public static let protoNames = [
        "BUS_MESSAGE_TYPE_UNSPECIFIED",
        "BUS_MESSAGE_TYPE_SYSTEM_STATE",
        "BUS_MESSAGE_TYPE_ADAPTATION_COMMAND",
        "BUS_MESSAGE_TYPE_FIELD_REPORT",
        "BUS_MESSAGE_TYPE_TELEMETRY",
        "BUS_MESSAGE_TYPE_POLICY_UPDATE",
    ]
}
