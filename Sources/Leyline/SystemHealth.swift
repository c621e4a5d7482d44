/// A subsystem's health as its telemetry reports it; degraded or isolated conditions are
/// reported here, never as invented lifecycle stages.
public struct SystemHealth: LeylineMessage {
    public var status: HealthStatus
    public var summary: String
    public var indicators: [String: String]

    public init(status: HealthStatus = .unknown, summary: String = "", indicators: [String: String] = [:]) {
        self.status = status
        self.summary = summary
        self.indicators = indicators
    }

    public static let fields = LeylineFields(
        SystemHealth(), [.field("status", \.status), .field("summary", \.summary), .field("indicators", \.indicators)])
}
