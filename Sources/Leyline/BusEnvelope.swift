/// What travels on the bus: one JSON object that keeps the reference BusEnvelope's names
/// (`message_type`, `payload`, `attributes`) and adds the EventEnvelope fields needed for
/// dedupe (`event_id`), expiry (`created_at` + `ttl`), priority routing, retry accounting
/// (`current_attempt`/`max_attempts`) and tracing (`correlation_id`). The payload is the
/// inner message as a JSON object, read according to `message_type`. The HMAC signature
/// covers the exact stored bytes of this document (so `created_at` is signed too).
public struct BusEnvelope: LeylineMessage {
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

    public static let fields = LeylineFields(
        BusEnvelope(
            message: .unspecified(.null), eventId: "", createdAt: .epoch, priority: .unspecified, ttl: .zero, currentAttempt: 0,
            maxAttempts: 0),
        [
            .field("event_id", \.eventId, .identifier),
            .field("created_at", \.createdAt),
            .field("source_subsystem", \.sourceSubsystem, .optionalIdentifier),
            .field("priority", \.priority),
            .field("ttl", \.ttl, .that { ttl, field, v in if ttl == .zero { v.fail(field, "must be positive") } }),
            .field("max_attempts", \.maxAttempts, .atLeastOne),
            .field("current_attempt", \.currentAttempt, .atLeastOne),
            .field("correlation_id", \.correlationId, .optionalIdentifier),
            .field("attributes", \.attributes),
            .custom(
                "message_type", write: { envelope, w in w.value(envelope.pointee.messageType) },
                encode: { envelope, c, key in try c.encode(envelope.pointee.messageType, forKey: key) },
                copy: { $0.pointee.message = $1.pointee.message }),
            .custom(
                "payload", write: { envelope, w in envelope.pointee.message.write(to: &w) },
                encode: { envelope, c, key in try envelope.pointee.message.encode(to: &c, forKey: key) },
                validate: { envelope, v in envelope.pointee.message.validate(&v) }, copy: { $0.pointee.message = $1.pointee.message }),
        ])

    private static let messageTypeIndex = fields.index(of: "message_type")
    private static let payloadIndex = fields.index(of: "payload")

    /// The table's fields, then the payload as its `message_type` says; a producer that wrote
    /// `payload` before `message_type` (unsorted keys) gets a second pass over the payload's bytes.
    public static func readJSON(_ r: inout LeylineJSONReader) throws(LeylineJSONError) -> BusEnvelope {
        var envelope = fields.defaults
        var type: BusMessageType?
        var payloadOffset: Int?
        var cursor = try r.beginObject()
        while let index = try r.nextField(fields.table, &cursor) {
            switch index {
            case messageTypeIndex: type = try r.value(BusMessageType.self)
            case payloadIndex:
                if let type {
                    envelope.message = try BusMessage.read(type, &r)
                } else {
                    r.skipWhitespace()
                    payloadOffset = r.position
                    try r.skipValue()
                }
            default: try fields.read(index, into: &envelope, &r)
            }
        }
        if let payloadOffset {
            let resume = r.beginRevisit(payloadOffset, field: "payload")
            envelope.message = try BusMessage.read(type ?? .unspecified, &r)
            r.endRevisit(resume)
        } else if case .unspecified(.null) = envelope.message {
            throw r.invalid("required field is missing", field: "payload")
        }
        return envelope
    }

    public init(from decoder: any Decoder) throws {
        self = try BusEnvelope.fields.decode(from: decoder)
        let c = try decoder.container(keyedBy: LeylineCodingKey.self)
        let type = try c.decodeIfPresent(BusMessageType.self, forKey: LeylineCodingKey("message_type")) ?? .unspecified
        let payload = LeylineCodingKey("payload")
        guard c.contains(payload), try !c.decodeNil(forKey: payload) else {
            throw DecodingError.keyNotFound(payload, .init(codingPath: c.codingPath, debugDescription: "payload is required"))
        }
        message = try BusMessage.decode(type, c, payload)
    }
}
