/// Inclusive bounds of one template parameter (`{min_value, max_value}`).
public import Leyline

public struct ParameterBounds: Sendable, Equatable, Codable {
    public var minValue: Double
    public var maxValue: Double

    public init(_ minValue: Double, _ maxValue: Double) {
        self.minValue = minValue
        self.maxValue = maxValue
    }

    public func contains(_ value: Double) -> Bool { value >= minValue && value <= maxValue }

    /// The forge default: the middle of the range.
    public var midpoint: Double { (minValue + maxValue) / 2 }

    enum CodingKeys: String, CodingKey { case minValue, maxValue }

    /// Missing fields read as 0: the reference JSON writer leaves default values out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        minValue = try container.decodeIfPresent(Double.self, forKey: .minValue) ?? 0
        maxValue = try container.decodeIfPresent(Double.self, forKey: .maxValue) ?? 0
    }
}

/// One catalog entry as the shared contract describes it (Leyline `BlueprintDescriptor`), plus
/// the approval stamp and last-updated time the design documents ask for. A value: every
/// getter of the catalog hands out copies, so callers can never change catalog state.
public struct BlueprintDescriptor: Sendable, Equatable, Codable {
    public var blueprintId: String
    /// snake_case template name.
    public var name: String
    public var tier: BlueprintTier
    /// Inclusive bounds per parameter; empty means the template takes no parameters.
    public var allowedParameters: [String: ParameterBounds]
    /// 0...1, a float32 in the contract (printed with 2 decimals by consumers).
    public var risk: Float
    /// Curriculum stage 0...6.
    public var stage: Int
    public var quarantineOnly: Bool
    public var approvalRequired: Bool
    public var description: String
    /// Who approved the template for production use, if anyone.
    public var approvalStamp: String?
    /// RFC 3339 time of the last change.
    public var lastUpdated: String

    public init(
        blueprintId: String, name: String, tier: BlueprintTier, allowedParameters: [String: ParameterBounds] = [:],
        risk: Float, stage: Int, quarantineOnly: Bool = false, approvalRequired: Bool = false,
        description: String, approvalStamp: String? = nil, lastUpdated: String = KarnCatalog.catalogRevision
    ) {
        self.blueprintId = blueprintId
        self.name = name
        self.tier = tier
        self.allowedParameters = allowedParameters
        self.risk = risk
        self.stage = stage
        self.quarantineOnly = quarantineOnly
        self.approvalRequired = approvalRequired
        self.description = description
        self.approvalStamp = approvalStamp
        self.lastUpdated = lastUpdated
    }

    /// The risk as its shortest decimal (0.1, not 0.10000000149): what a float32 prints as.
    public var riskValue: Double { Double("\(risk)") ?? Double(risk) }

    enum CodingKeys: String, CodingKey {
        case blueprintId, name, tier, allowedParameters, risk, stage, quarantineOnly, approvalRequired, description
        case approvalStamp, lastUpdated
    }

    /// Missing fields read as their zero value (the reference writer omits defaults).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        blueprintId = try c.decodeIfPresent(String.self, forKey: .blueprintId) ?? ""
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        tier = try c.decodeIfPresent(BlueprintTier.self, forKey: .tier) ?? .unspecified
        allowedParameters = try c.decodeIfPresent([String: ParameterBounds].self, forKey: .allowedParameters) ?? [:]
        risk = Float(try c.decodeIfPresent(Double.self, forKey: .risk) ?? 0)
        stage = try c.decodeIfPresent(Int.self, forKey: .stage) ?? 0
        quarantineOnly = try c.decodeIfPresent(Bool.self, forKey: .quarantineOnly) ?? false
        approvalRequired = try c.decodeIfPresent(Bool.self, forKey: .approvalRequired) ?? false
        description = try c.decodeIfPresent(String.self, forKey: .description) ?? ""
        approvalStamp = try c.decodeIfPresent(String.self, forKey: .approvalStamp)
        lastUpdated = try c.decodeIfPresent(String.self, forKey: .lastUpdated) ?? ""
    }

    /// Every field, always (consumers must not have to guess defaults).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(blueprintId, forKey: .blueprintId)
        try c.encode(name, forKey: .name)
        try c.encode(tier, forKey: .tier)
        try c.encode(allowedParameters, forKey: .allowedParameters)
        try c.encode(riskValue, forKey: .risk)
        try c.encode(stage, forKey: .stage)
        try c.encode(quarantineOnly, forKey: .quarantineOnly)
        try c.encode(approvalRequired, forKey: .approvalRequired)
        try c.encode(description, forKey: .description)
        if let approvalStamp { try c.encode(approvalStamp, forKey: .approvalStamp) } else { try c.encodeNil(forKey: .approvalStamp) }
        try c.encode(lastUpdated, forKey: .lastUpdated)
    }
}
