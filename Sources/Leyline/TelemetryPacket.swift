/// Metrics, events, spans and health from any subsystem (→ Nissa).
public struct TelemetryPacket: LeylineMessage {
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

    public static let fields = LeylineFields(
        TelemetryPacket(),
        [
            .field("packet_id", \.packetId, .identifier),
            .field("timestamp", \.timestamp),
            .field("source_subsystem", \.sourceSubsystem, .optionalIdentifier),
            .field("level", \.level),
            .field("metrics", \.metrics),
            .field("events", \.events),
            .field("spans", \.spans),
            .field("system_health", \.systemHealth),
        ])
}
