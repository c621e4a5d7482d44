/// Something that happened, with a short code as its description (`latency_high`).
public struct TelemetryEvent: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey { case eventId = "event_id", description, level, attributes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eventId = try c.field(.eventId, or: "")
        description = try c.field(.description, or: "")
        level = try c.field(.level, or: .unspecified)
        attributes = try c.field(.attributes, or: [:])
    }

    public func validate(_ v: inout LeylineValidator) {
        v.optionalIdentifier("event_id", eventId)
        v.identifier("description", description)
        v.labels("attributes", attributes)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension TelemetryEvent: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["attributes", "description", "event_id", "level"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("attributes"); w.stringMap(attributes)
        w.key("description"); w.string(description)
        w.key("event_id"); w.string(eventId)
        w.key("level"); w.value(level)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(TelemetryEvent.jsonFields, &cursor) {
            switch field {
            case 0: attributes = try r.stringMap()
            case 1: description = try r.string()
            case 2: eventId = try r.string()
            case 3: level = try r.value(TelemetryLevel.self)
            default: break
            }
        }
    }
}
