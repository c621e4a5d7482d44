/// The designed event envelope of the contract. Nothing travels in it (the bus uses
/// `BusEnvelope`, which adopts the fields we need); it is here so the contract is complete
/// and so tools can read documents that use it.
public struct EventEnvelope: LeylineMessage {
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

    public static let fields = LeylineFields(
        EventEnvelope(),
        [
            .field("event_id", \.eventId, .identifier),
            .field("event_type", \.eventType, .optionalIdentifier),
            .field("source_subsystem", \.sourceSubsystem, .optionalIdentifier),
            .field("created_at", \.createdAt),
            .field("processing_deadline", \.processingDeadline),
            .field("ttl", \.ttl),
            .field("payload", \.payload),
            .field("payload_type", \.payloadType),
            .field("content_encoding", \.contentEncoding),
            .field("priority", \.priority),
            .field("routing_keys", \.routingKeys),
            .field("correlation_id", \.correlationId, .optionalIdentifier),
            .field("delivery_guarantee", \.deliveryGuarantee),
            .field("max_attempts", \.maxAttempts),
            .field("current_attempt", \.currentAttempt),
        ])

    public func validate(_ v: inout LeylineValidator) {
        EventEnvelope.fields.validate(self, &v)
        if currentAttempt > maxAttempts && maxAttempts > 0 {
            v.fail("current_attempt", "\(currentAttempt) exceeds max_attempts \(maxAttempts)")
        }
    }
}
