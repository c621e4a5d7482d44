/// One measurement in a telemetry packet. Names are dotted (`tolaria.training.latency_ms`);
/// units come from a small vocabulary (`loss`, `ms`, `count`, `ratio`, `bool`, `delta`,
/// `reward`, `nats`, `score`).
public struct MetricPoint: Sendable, Equatable, Codable, LeylineValidatable {
    public var name: String
    public var value: Double
    public var unit: String
    public var attributes: [String: String]

    public init(name: String = "", value: Double = 0, unit: String = "", attributes: [String: String] = [:]) {
        self.name = name
        self.value = value
        self.unit = unit
        self.attributes = attributes
    }

    enum CodingKeys: String, CodingKey { case name, value, unit, attributes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.field(.name, or: "")
        value = try c.field(.value, or: 0)
        unit = try c.field(.unit, or: "")
        attributes = try c.field(.attributes, or: [:])
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("name", name)
        v.finite("value", value)
        v.optionalIdentifier("unit", unit)
        v.labels("attributes", attributes)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension MetricPoint: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["attributes", "name", "unit", "value"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("attributes"); w.stringMap(attributes)
        w.key("name"); w.string(name)
        w.key("unit"); w.string(unit)
        w.key("value"); w.double(value)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(MetricPoint.jsonFields, &cursor) {
            switch field {
            case 0: attributes = try r.stringMap()
            case 1: name = try r.string()
            case 2: unit = try r.string()
            case 3: value = try r.double()
            default: break
            }
        }
    }
}
