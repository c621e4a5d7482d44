/// One parameter a template accepts: its bounds and its type (05 §4). Requests carry doubles;
/// integer parameters take effect rounded half away from zero, so a forge midpoint of 2.5
/// becomes 3 (and the compiler may snap it further to satisfy a shape rule).
public struct TemplateParameter: Sendable, Equatable, Encodable {
    public enum ValueType: String, Sendable, Codable {
        case real, integer
    }

    public var name: String
    public var bounds: ParameterBounds
    public var type: ValueType

    public init(_ name: String, _ min: Double, _ max: Double, _ type: ValueType) {
        self.name = name
        self.bounds = ParameterBounds(min, max)
        self.type = type
    }

    /// The value a kernel sees for a requested value.
    public func effectiveValue(_ requested: Double) -> Double {
        type == .integer ? requested.rounded(.toNearestOrAwayFromZero) : requested
    }

    /// What the forge requests: the midpoint of the bounds.
    public var forgeDefault: Double { bounds.midpoint }

    enum CodingKeys: String, CodingKey { case type, minValue, maxValue, forgeDefault }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(type, forKey: .type)
        try c.encode(bounds.minValue, forKey: .minValue)
        try c.encode(bounds.maxValue, forKey: .maxValue)
        try c.encode(forgeDefault, forKey: .forgeDefault)
    }
}
