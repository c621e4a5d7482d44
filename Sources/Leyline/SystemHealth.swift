/// A subsystem's health as its telemetry reports it; degraded or isolated conditions are
/// reported here, never as invented lifecycle stages.
public struct SystemHealth: Sendable, Equatable, Codable, LeylineValidatable {
    public var status: HealthStatus
    public var summary: String
    public var indicators: [String: String]

    public init(status: HealthStatus = .unknown, summary: String = "", indicators: [String: String] = [:]) {
        self.status = status
        self.summary = summary
        self.indicators = indicators
    }

    enum CodingKeys: String, CodingKey { case status, summary, indicators }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        status = try c.field(.status, or: .unknown)
        summary = try c.field(.summary, or: "")
        indicators = try c.field(.indicators, or: [:])
    }

    public func validate(_ v: inout LeylineValidator) {
        v.labels("indicators", indicators)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension SystemHealth: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["indicators", "status", "summary"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("indicators"); w.stringMap(indicators)
        w.key("status"); w.value(status)
        w.key("summary"); w.string(summary)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(SystemHealth.jsonFields, &cursor) {
            switch field {
            case 0: indicators = try r.stringMap()
            case 1: status = try r.value(HealthStatus.self)
            case 2: summary = try r.string()
            default: break
            }
        }
    }
}
