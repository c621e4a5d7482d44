/// One measurement in a telemetry packet. Names are dotted (`tolaria.training.latency_ms`);
/// units come from a small vocabulary (`loss`, `ms`, `count`, `ratio`, `bool`, `delta`,
/// `reward`, `nats`, `score`).
public struct MetricPoint: LeylineMessage {
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

    public static let fields = LeylineFields(
        MetricPoint(),
        [
            .field("name", \.name, .identifier),
            .field("value", \.value, .finite),
            .field("unit", \.unit, .optionalIdentifier),
            .field("attributes", \.attributes),
        ])
}
