/// Something that happened, with a short code as its description (`latency_high`).
public struct TelemetryEvent: LeylineMessage {
    public var eventId: String
    public var description: String
    public var level: TelemetryLevel
    public var attributes: [String: String]

    public init(
        eventId: String = "", description: String = "", level: TelemetryLevel = .unspecified,
        attributes: [String: String] = [:]
    ) {
        self.eventId = eventId
        self.description = description
        self.level = level
        self.attributes = attributes
    }

    public static let fields = LeylineFields(
        TelemetryEvent(),
        [
            .field("event_id", \.eventId, .optionalIdentifier),
            .field("description", \.description, .identifier),
            .field("level", \.level),
            .field("attributes", \.attributes),
        ])
}
