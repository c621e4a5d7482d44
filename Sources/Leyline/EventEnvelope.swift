/// The designed event envelope of the contract. Nothing travels in it (the bus uses
/// `BusEnvelope`, which adopts the fields we need); it is here so the contract is complete
/// and so tools can read documents that use it.
public struct EventEnvelope: Sendable, Equatable, Codable, LeylineValidatable {
    public var eventId: String
    public var eventType: String
    public var sourceSubsystem: String
    public var createdAt: LeylineTimestamp
    public var processingDeadline: LeylineDuration
    public var ttl: LeylineDuration
    public var payload: LeylineBytes
    public var payloadType: String
    public var contentEncoding: String
    public var priority: MessagePriority
    public var routingKeys: [String]
    public var correlationId: String
    public var deliveryGuarantee: DeliveryGuarantee
    public var maxAttempts: UInt32
    public var currentAttempt: UInt32

    public init(
        eventId: String = "", eventType: String = "", sourceSubsystem: String = "", createdAt: LeylineTimestamp = .epoch,
        processingDeadline: LeylineDuration = .zero, ttl: LeylineDuration = .zero, payload: LeylineBytes = LeylineBytes(),
        payloadType: String = "", contentEncoding: String = "", priority: MessagePriority = .unspecified,
        routingKeys: [String] = [], correlationId: String = "", deliveryGuarantee: DeliveryGuarantee = .unknown,
        maxAttempts: UInt32 = 0, currentAttempt: UInt32 = 0
    ) {
        self.eventId = eventId
        self.eventType = eventType
        self.sourceSubsystem = sourceSubsystem
        self.createdAt = createdAt
        self.processingDeadline = processingDeadline
        self.ttl = ttl
        self.payload = payload
        self.payloadType = payloadType
        self.contentEncoding = contentEncoding
        self.priority = priority
        self.routingKeys = routingKeys
        self.correlationId = correlationId
        self.deliveryGuarantee = deliveryGuarantee
        self.maxAttempts = maxAttempts
        self.currentAttempt = currentAttempt
    }

    enum CodingKeys: String, CodingKey {
        case eventId = "event_id", eventType = "event_type", sourceSubsystem = "source_subsystem", createdAt = "created_at"
        case processingDeadline = "processing_deadline", ttl, payload, payloadType = "payload_type"
        case contentEncoding = "content_encoding", priority, routingKeys = "routing_keys", correlationId = "correlation_id"
        case deliveryGuarantee = "delivery_guarantee", maxAttempts = "max_attempts", currentAttempt = "current_attempt"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eventId = try c.field(.eventId, or: "")
        eventType = try c.field(.eventType, or: "")
        sourceSubsystem = try c.field(.sourceSubsystem, or: "")
        createdAt = try c.field(.createdAt, or: .epoch)
        processingDeadline = try c.field(.processingDeadline, or: .zero)
        ttl = try c.field(.ttl, or: .zero)
        payload = try c.field(.payload, or: LeylineBytes())
        payloadType = try c.field(.payloadType, or: "")
        contentEncoding = try c.field(.contentEncoding, or: "")
        priority = try c.field(.priority, or: .unspecified)
        routingKeys = try c.field(.routingKeys, or: [])
        correlationId = try c.field(.correlationId, or: "")
        deliveryGuarantee = try c.field(.deliveryGuarantee, or: .unknown)
        maxAttempts = try c.field(.maxAttempts, or: 0)
        currentAttempt = try c.field(.currentAttempt, or: 0)
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("event_id", eventId)
        v.optionalIdentifier("event_type", eventType)
        v.optionalIdentifier("source_subsystem", sourceSubsystem)
        v.timestamp("created_at", createdAt)
        v.duration("processing_deadline", processingDeadline)
        v.duration("ttl", ttl)
        v.optionalIdentifier("correlation_id", correlationId)
        if currentAttempt > maxAttempts && maxAttempts > 0 {
            v.fail("current_attempt", "\(currentAttempt) exceeds max_attempts \(maxAttempts)")
        }
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension EventEnvelope: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "content_encoding", "correlation_id", "created_at", "current_attempt", "delivery_guarantee", "event_id", "event_type",
        "max_attempts", "payload", "payload_type", "priority", "processing_deadline", "routing_keys", "source_subsystem", "ttl",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("content_encoding"); w.string(contentEncoding)
        w.key("correlation_id"); w.string(correlationId)
        w.key("created_at"); w.timestamp(createdAt)
        w.key("current_attempt"); w.unsigned(currentAttempt)
        w.key("delivery_guarantee"); w.value(deliveryGuarantee)
        w.key("event_id"); w.string(eventId)
        w.key("event_type"); w.string(eventType)
        w.key("max_attempts"); w.unsigned(maxAttempts)
        w.key("payload"); w.string(Base64.encode(payload.bytes))
        w.key("payload_type"); w.string(payloadType)
        w.key("priority"); w.value(priority)
        w.key("processing_deadline"); w.duration(processingDeadline)
        w.key("routing_keys"); w.stringArray(routingKeys)
        w.key("source_subsystem"); w.string(sourceSubsystem)
        w.key("ttl"); w.duration(ttl)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(EventEnvelope.jsonFields, &cursor) {
            switch field {
            case 0: contentEncoding = try r.string()
            case 1: correlationId = try r.string()
            case 2: createdAt = try r.timestamp()
            case 3: currentAttempt = try r.uint32()
            case 4: deliveryGuarantee = try r.value(DeliveryGuarantee.self)
            case 5: eventId = try r.string()
            case 6: eventType = try r.string()
            case 7: maxAttempts = try r.uint32()
            case 8: payload = try r.bytes()
            case 9: payloadType = try r.string()
            case 10: priority = try r.value(MessagePriority.self)
            case 11: processingDeadline = try r.duration()
            case 12: routingKeys = try r.stringArray()
            case 13: sourceSubsystem = try r.string()
            case 14: ttl = try r.duration()
            default: break
            }
        }
    }
}
