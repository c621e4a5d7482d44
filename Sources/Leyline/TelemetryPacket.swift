/// Metrics, events, spans and health from any subsystem (→ Nissa).
public struct TelemetryPacket: Sendable, Equatable, Codable, LeylineValidatable {
    public var packetId: String
    public var timestamp: LeylineTimestamp
    public var sourceSubsystem: String
    public var level: TelemetryLevel
    public var metrics: [MetricPoint]
    public var events: [TelemetryEvent]
    public var spans: [TraceSpan]
    public var systemHealth: SystemHealth

    public init(
        packetId: String = "", timestamp: LeylineTimestamp = .epoch, sourceSubsystem: String = "",
        level: TelemetryLevel = .unspecified, metrics: [MetricPoint] = [], events: [TelemetryEvent] = [],
        spans: [TraceSpan] = [], systemHealth: SystemHealth = SystemHealth()
    ) {
        self.packetId = packetId
        self.timestamp = timestamp
        self.sourceSubsystem = sourceSubsystem
        self.level = level
        self.metrics = metrics
        self.events = events
        self.spans = spans
        self.systemHealth = systemHealth
    }

    enum CodingKeys: String, CodingKey {
        case packetId = "packet_id", timestamp, sourceSubsystem = "source_subsystem", level, metrics, events, spans
        case systemHealth = "system_health"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        packetId = try c.field(.packetId, or: "")
        timestamp = try c.field(.timestamp, or: .epoch)
        sourceSubsystem = try c.field(.sourceSubsystem, or: "")
        level = try c.field(.level, or: .unspecified)
        metrics = try c.field(.metrics, or: [])
        events = try c.field(.events, or: [])
        spans = try c.field(.spans, or: [])
        systemHealth = try c.field(.systemHealth, or: SystemHealth())
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("packet_id", packetId)
        v.timestamp("timestamp", timestamp)
        v.optionalIdentifier("source_subsystem", sourceSubsystem)
        v.each("metrics", metrics)
        v.each("events", events)
        v.each("spans", spans)
        v.nested("system_health", systemHealth)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension TelemetryPacket: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "events", "level", "metrics", "packet_id", "source_subsystem", "spans", "system_health", "timestamp",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("events"); w.array(events)
        w.key("level"); w.value(level)
        w.key("metrics"); w.array(metrics)
        w.key("packet_id"); w.string(packetId)
        w.key("source_subsystem"); w.string(sourceSubsystem)
        w.key("spans"); w.array(spans)
        w.key("system_health"); systemHealth.write(to: &w)
        w.key("timestamp"); w.timestamp(timestamp)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(TelemetryPacket.jsonFields, &cursor) {
            switch field {
            case 0: events = try r.array(of: TelemetryEvent.self)
            case 1: level = try r.value(TelemetryLevel.self)
            case 2: metrics = try r.array(of: MetricPoint.self)
            case 3: packetId = try r.string()
            case 4: sourceSubsystem = try r.string()
            case 5: spans = try r.array(of: TraceSpan.self)
            case 6: systemHealth = try SystemHealth(reading: &r)
            case 7: timestamp = try r.timestamp()
            default: break
            }
        }
    }
}
