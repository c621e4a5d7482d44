/// One span of a trace (defined by the contract; producers may start filling it).
public struct TraceSpan: Sendable, Equatable, Codable, LeylineValidatable {
    public var spanId: String
    public var parentSpanId: String
    public var name: String
    public var startTime: LeylineTimestamp
    public var endTime: LeylineTimestamp
    public var attributes: [String: String]

    public init(
        spanId: String = "", parentSpanId: String = "", name: String = "", startTime: LeylineTimestamp = .epoch,
        endTime: LeylineTimestamp = .epoch, attributes: [String: String] = [:]
    ) {
        self.spanId = spanId
        self.parentSpanId = parentSpanId
        self.name = name
        self.startTime = startTime
        self.endTime = endTime
        self.attributes = attributes
    }

    enum CodingKeys: String, CodingKey {
        case spanId = "span_id", parentSpanId = "parent_span_id", name, startTime = "start_time", endTime = "end_time"
        case attributes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        spanId = try c.field(.spanId, or: "")
        parentSpanId = try c.field(.parentSpanId, or: "")
        name = try c.field(.name, or: "")
        startTime = try c.field(.startTime, or: .epoch)
        endTime = try c.field(.endTime, or: .epoch)
        attributes = try c.field(.attributes, or: [:])
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("span_id", spanId)
        v.optionalIdentifier("parent_span_id", parentSpanId)
        v.timestamp("start_time", startTime)
        v.timestamp("end_time", endTime)
        if endTime < startTime { v.fail("end_time", "is before start_time") }
        v.labels("attributes", attributes)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension TraceSpan: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["attributes", "end_time", "name", "parent_span_id", "span_id", "start_time"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("attributes"); w.stringMap(attributes)
        w.key("end_time"); w.timestamp(endTime)
        w.key("name"); w.string(name)
        w.key("parent_span_id"); w.string(parentSpanId)
        w.key("span_id"); w.string(spanId)
        w.key("start_time"); w.timestamp(startTime)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(TraceSpan.jsonFields, &cursor) {
            switch field {
            case 0: attributes = try r.stringMap()
            case 1: endTime = try r.timestamp()
            case 2: name = try r.string()
            case 3: parentSpanId = try r.string()
            case 4: spanId = try r.string()
            case 5: startTime = try r.timestamp()
            default: break
            }
        }
    }
}
