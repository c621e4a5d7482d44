/// Priority of a bus message. There is no EMERGENCY value: `critical` is what routes to the emergency stream.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum MessagePriority: Int32, LeylineEnum {
    case unspecified = 0
    case low = 1
    case normal = 2
    case high = 3
    case critical = 4

    public static let protoNames = [
        "MESSAGE_PRIORITY_UNSPECIFIED",
        "MESSAGE_PRIORITY_LOW",
        "MESSAGE_PRIORITY_NORMAL",
        "MESSAGE_PRIORITY_HIGH",
        "MESSAGE_PRIORITY_CRITICAL",
    ]
}
