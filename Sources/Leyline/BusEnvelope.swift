import EsperJSON

/// What travels on the bus: one JSON object that keeps the reference BusEnvelope's names
/// (`message_type`, `payload`, `attributes`) and adds the EventEnvelope fields needed for
/// dedupe (`event_id`), expiry (`created_at` + `ttl`), priority routing, retry accounting
/// (`current_attempt`/`max_attempts`) and tracing (`correlation_id`). The payload is the
/// inner message as a JSON object, read according to `message_type`. The HMAC signature
/// covers the exact stored bytes of this document (so `created_at` is signed too).
public struct BusEnvelope: Sendable, Equatable, Codable, LeylineValidatable {
    public var eventId: String
    public var createdAt: LeylineTimestamp
    public var sourceSubsystem: String
    public var priority: MessagePriority
    public var ttl: LeylineDuration
    public var currentAttempt: UInt32
    public var maxAttempts: UInt32
    public var correlationId: String
    public var attributes: [String: String]
    public var message: BusMessage

    public var messageType: BusMessageType { message.messageType }

    public init(
        message: BusMessage, eventId: String, createdAt: LeylineTimestamp = .now(), sourceSubsystem: String = "",
        priority: MessagePriority = .normal, ttl: LeylineDuration = LeylineDuration(seconds: 3600),
        currentAttempt: UInt32 = 1, maxAttempts: UInt32 = UInt32(SystemLimits.standard.maxRetryAttempts),
        correlationId: String = "", attributes: [String: String] = [:]
    ) {
        self.message = message
        self.eventId = eventId
        self.createdAt = createdAt
        self.sourceSubsystem = sourceSubsystem
        self.priority = priority
        self.ttl = ttl
        self.currentAttempt = currentAttempt
        self.maxAttempts = maxAttempts
        self.correlationId = correlationId
        self.attributes = attributes
    }

    /// When the message stops being worth delivering.
    public var expiresAt: LeylineTimestamp { createdAt.adding(ttl) }

    enum CodingKeys: String, CodingKey {
        case messageType = "message_type", eventId = "event_id", createdAt = "created_at"
        case sourceSubsystem = "source_subsystem", priority, ttl, currentAttempt = "current_attempt"
        case maxAttempts = "max_attempts", correlationId = "correlation_id", attributes, payload
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eventId = try c.field(.eventId, or: "")
        createdAt = try c.field(.createdAt, or: .epoch)
        sourceSubsystem = try c.field(.sourceSubsystem, or: "")
        priority = try c.field(.priority, or: .unspecified)
        ttl = try c.field(.ttl, or: .zero)
        currentAttempt = try c.field(.currentAttempt, or: 0)
        maxAttempts = try c.field(.maxAttempts, or: 0)
        correlationId = try c.field(.correlationId, or: "")
        attributes = try c.field(.attributes, or: [:])
        let type = try c.field(.messageType, or: BusMessageType.unspecified)
        guard c.contains(.payload), try !c.decodeNil(forKey: .payload) else {
            throw DecodingError.keyNotFound(CodingKeys.payload, .init(codingPath: c.codingPath, debugDescription: "payload is required"))
        }
        switch type {
        case .systemState: message = .systemState(try c.decode(SystemStatePacket.self, forKey: .payload))
        case .adaptationCommand: message = .adaptationCommand(try c.decode(AdaptationCommand.self, forKey: .payload))
        case .fieldReport: message = .fieldReport(try c.decode(FieldReport.self, forKey: .payload))
        case .telemetry: message = .telemetry(try c.decode(TelemetryPacket.self, forKey: .payload))
        case .policyUpdate: message = .policyUpdate(try c.decode(PolicyUpdate.self, forKey: .payload))
        case .unspecified: message = .unspecified(try c.decode(JSONValue.self, forKey: .payload))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(messageType, forKey: .messageType)
        try c.encode(eventId, forKey: .eventId)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(sourceSubsystem, forKey: .sourceSubsystem)
        try c.encode(priority, forKey: .priority)
        try c.encode(ttl, forKey: .ttl)
        try c.encode(currentAttempt, forKey: .currentAttempt)
        try c.encode(maxAttempts, forKey: .maxAttempts)
        try c.encode(correlationId, forKey: .correlationId)
        try c.encode(attributes, forKey: .attributes)
        switch message {
        case .systemState(let m): try c.encode(m, forKey: .payload)
        case .adaptationCommand(let m): try c.encode(m, forKey: .payload)
        case .fieldReport(let m): try c.encode(m, forKey: .payload)
        case .telemetry(let m): try c.encode(m, forKey: .payload)
        case .policyUpdate(let m): try c.encode(m, forKey: .payload)
        case .unspecified(let value): try c.encode(value, forKey: .payload)
        }
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("event_id", eventId)
        v.timestamp("created_at", createdAt)
        v.optionalIdentifier("source_subsystem", sourceSubsystem)
        v.duration("ttl", ttl)
        if ttl == .zero { v.fail("ttl", "must be positive") }
        if maxAttempts == 0 { v.fail("max_attempts", "must be at least 1") }
        if currentAttempt == 0 { v.fail("current_attempt", "must be at least 1") }
        v.optionalIdentifier("correlation_id", correlationId)
        v.labels("attributes", attributes)
        message.validate(&v)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension BusEnvelope: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "attributes", "correlation_id", "created_at", "current_attempt", "event_id", "max_attempts", "message_type",
        "payload", "priority", "source_subsystem", "ttl",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("attributes"); w.stringMap(attributes)
        w.key("correlation_id"); w.string(correlationId)
        w.key("created_at"); w.timestamp(createdAt)
        w.key("current_attempt"); w.unsigned(currentAttempt)
        w.key("event_id"); w.string(eventId)
        w.key("max_attempts"); w.unsigned(maxAttempts)
        w.key("message_type"); w.value(messageType)
        w.key("payload")
        switch message {
        case .systemState(let m): m.write(to: &w)
        case .adaptationCommand(let m): m.write(to: &w)
        case .fieldReport(let m): m.write(to: &w)
        case .telemetry(let m): m.write(to: &w)
        case .policyUpdate(let m): m.write(to: &w)
        case .unspecified(let value): w.json(value)
        }
        w.key("priority"); w.value(priority)
        w.key("source_subsystem"); w.string(sourceSubsystem)
        w.key("ttl"); w.duration(ttl)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init(
            message: .unspecified(.null), eventId: "", createdAt: .epoch, sourceSubsystem: "", priority: .unspecified,
            ttl: .zero, currentAttempt: 0, maxAttempts: 0)
        var type: BusMessageType?
        // The payload is read once its type is known; a producer that wrote `payload` before
        // `message_type` (unsorted keys) gets a second pass over the payload's bytes.
        var payloadOffset: Int?
        var cursor = try r.beginObject()
        while let field = try r.nextField(BusEnvelope.jsonFields, &cursor) {
            switch field {
            case 0: attributes = try r.stringMap()
            case 1: correlationId = try r.string()
            case 2: createdAt = try r.timestamp()
            case 3: currentAttempt = try r.uint32()
            case 4: eventId = try r.string()
            case 5: maxAttempts = try r.uint32()
            case 6: type = try r.value(BusMessageType.self)
            case 7:
                if let type {
                    message = try BusEnvelope.readPayload(type, &r)
                } else {
                    r.skipWhitespace()
                    payloadOffset = r.position
                    try r.skipValue()
                }
            case 8: priority = try r.value(MessagePriority.self)
            case 9: sourceSubsystem = try r.string()
            case 10: ttl = try r.duration()
            default: break
            }
        }
        if let payloadOffset {
            let resume = r.beginRevisit(payloadOffset, field: "payload")
            message = try BusEnvelope.readPayload(type ?? .unspecified, &r)
            r.endRevisit(resume)
        } else if case .unspecified(.null) = message {
            throw r.invalid("required field is missing", field: "payload")
        }
    }

    static func readPayload(_ type: BusMessageType, _ r: inout LeylineJSONReader) throws(LeylineJSONError) -> BusMessage {
        switch type {
        case .systemState: .systemState(try SystemStatePacket(reading: &r))
        case .adaptationCommand: .adaptationCommand(try AdaptationCommand(reading: &r))
        case .fieldReport: .fieldReport(try FieldReport(reading: &r))
        case .telemetry: .telemetry(try TelemetryPacket(reading: &r))
        case .policyUpdate: .policyUpdate(try PolicyUpdate(reading: &r))
        case .unspecified: .unspecified(try r.json())
        }
    }
}
