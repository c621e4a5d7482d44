/// One span of a trace (defined by the contract; producers may start filling it).
public struct TraceSpan: LeylineMessage {
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

    public static let fields = LeylineFields(
        TraceSpan(),
        [
            .field("span_id", \.spanId, .identifier),
            .field("parent_span_id", \.parentSpanId, .optionalIdentifier),
            .field("name", \.name),
            .field("start_time", \.startTime),
            .field("end_time", \.endTime),
            .field("attributes", \.attributes),
        ])

    public func validate(_ v: inout LeylineValidator) {
        TraceSpan.fields.validate(self, &v)
        if endTime < startTime { v.fail("end_time", "is before start_time") }
    }
}
