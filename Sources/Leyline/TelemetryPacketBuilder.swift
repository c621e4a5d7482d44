/// The reference helper `build_telemetry_packet`: fills the defaults producers would
/// otherwise repeat — events without an id get `evt-<1-based index>`, events without a level
/// get INFO, and `system_health` is always populated.
extension TelemetryPacket {
    public static func build(
        packetId: String, source: String, level: TelemetryLevel, metrics: [MetricPoint],
        events: [TelemetryEvent] = [], healthStatus: HealthStatus = .healthy, healthSummary: String = "",
        healthIndicators: [String: String] = [:], timestamp: LeylineTimestamp = .now()
    ) -> TelemetryPacket {
        let filledEvents = events.enumerated().map { index, event -> TelemetryEvent in
            var event = event
            if event.eventId.isEmpty { event.eventId = "evt-\(index + 1)" }
            if event.level == .unspecified { event.level = .info }
            return event
        }
        return TelemetryPacket(
            packetId: packetId, timestamp: timestamp, sourceSubsystem: source, level: level,
            metrics: metrics, events: filledEvents,
            systemHealth: SystemHealth(status: healthStatus, summary: healthSummary, indicators: healthIndicators))
    }
}
