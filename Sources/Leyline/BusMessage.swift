public import EsperJSON

/// The inner message of a bus envelope; its case decides `message_type`.
public enum BusMessage: Sendable, Equatable {
    case systemState(SystemStatePacket)
    case adaptationCommand(AdaptationCommand)
    case fieldReport(FieldReport)
    case telemetry(TelemetryPacket)
    case policyUpdate(PolicyUpdate)
    /// `BUS_MESSAGE_TYPE_UNSPECIFIED` with any JSON object as payload. It exists so the
    /// envelope can carry and round-trip other contract messages (the reference test wraps a
    /// BlueprintDescriptor); Oona neither publishes nor delivers it.
    case unspecified(JSONValue)

    public var messageType: BusMessageType {
        switch self {
        case .systemState: .systemState
        case .adaptationCommand: .adaptationCommand
        case .fieldReport: .fieldReport
        case .telemetry: .telemetry
        case .policyUpdate: .policyUpdate
        case .unspecified: .unspecified
        }
    }

    /// The identifier producers give the inner message (packet/command/report/policy id).
    public var messageId: String {
        switch self {
        case .systemState(let m): m.packetId
        case .adaptationCommand(let m): m.commandId
        case .fieldReport(let m): m.reportId
        case .telemetry(let m): m.packetId
        case .policyUpdate(let m): m.policyId
        case .unspecified: ""
        }
    }

    func validate(_ v: inout LeylineValidator) {
        switch self {
        case .systemState(let m): v.nested("payload", m)
        case .adaptationCommand(let m): v.nested("payload", m)
        case .fieldReport(let m): v.nested("payload", m)
        case .telemetry(let m): v.nested("payload", m)
        case .policyUpdate(let m): v.nested("payload", m)
        case .unspecified(let value):
            if value.objectValue == nil { v.fail("payload", "must be a JSON object") }
        }
    }
}
