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

    // The envelope's `payload`, in each path; its type comes from `message_type`.

    func write(to w: inout LeylineJSONWriter) {
        switch self {
        case .systemState(let m): SystemStatePacket.writeJSON(m, to: &w)
        case .adaptationCommand(let m): AdaptationCommand.writeJSON(m, to: &w)
        case .fieldReport(let m): FieldReport.writeJSON(m, to: &w)
        case .telemetry(let m): TelemetryPacket.writeJSON(m, to: &w)
        case .policyUpdate(let m): PolicyUpdate.writeJSON(m, to: &w)
        case .unspecified(let value): w.json(value)
        }
    }

    static func read(_ type: BusMessageType, _ r: inout LeylineJSONReader) throws(LeylineJSONError) -> BusMessage {
        switch type {
        case .systemState: .systemState(try SystemStatePacket.readJSON(&r))
        case .adaptationCommand: .adaptationCommand(try AdaptationCommand.readJSON(&r))
        case .fieldReport: .fieldReport(try FieldReport.readJSON(&r))
        case .telemetry: .telemetry(try TelemetryPacket.readJSON(&r))
        case .policyUpdate: .policyUpdate(try PolicyUpdate.readJSON(&r))
        case .unspecified: .unspecified(try r.json())
        }
    }

    func encode<Key>(to c: inout KeyedEncodingContainer<Key>, forKey key: Key) throws {
        switch self {
        case .systemState(let m): try c.encode(m, forKey: key)
        case .adaptationCommand(let m): try c.encode(m, forKey: key)
        case .fieldReport(let m): try c.encode(m, forKey: key)
        case .telemetry(let m): try c.encode(m, forKey: key)
        case .policyUpdate(let m): try c.encode(m, forKey: key)
        case .unspecified(let value): try c.encode(value, forKey: key)
        }
    }

    static func decode<Key>(_ type: BusMessageType, _ c: KeyedDecodingContainer<Key>, _ key: Key) throws -> BusMessage {
        switch type {
        case .systemState: .systemState(try c.decode(SystemStatePacket.self, forKey: key))
        case .adaptationCommand: .adaptationCommand(try c.decode(AdaptationCommand.self, forKey: key))
        case .fieldReport: .fieldReport(try c.decode(FieldReport.self, forKey: key))
        case .telemetry: .telemetry(try c.decode(TelemetryPacket.self, forKey: key))
        case .policyUpdate: .policyUpdate(try c.decode(PolicyUpdate.self, forKey: key))
        case .unspecified: .unspecified(try c.decode(JSONValue.self, forKey: key))
        }
    }
}
