/// The catalog's descriptor: the shared contract's fields (Leyline) plus Karn's approval stamp and last-updated.
public import Leyline

/// Leyline's `BlueprintParameterBounds`: one definition for the catalog and the contract.
public typealias ParameterBounds = BlueprintParameterBounds

extension BlueprintParameterBounds {
    public init(_ minValue: Double, _ maxValue: Double) { self.init(minValue: minValue, maxValue: maxValue) }

    public func contains(_ value: Double) -> Bool { value >= minValue && value <= maxValue }

    /// The forge default: the middle of the range.
    public var midpoint: Double { (minValue + maxValue) / 2 }
}

/// One catalog entry: the shared contract's descriptor (Leyline `BlueprintDescriptor`, the one
/// definition of the shared fields) plus the approval stamp and last-updated time the design
/// documents ask for. A value: every getter of the catalog hands out copies, so callers can
/// never change catalog state. The shared fields are forwarded, so `descriptor.tier` reads the
/// contract's; `stage` is an `Int` here (the contract's `uint32`).
public struct BlueprintDescriptor: Sendable, Equatable, Codable {
    /// The shared-contract fields, as published on the bus.
    public var contract: ContractBlueprintDescriptor
    /// Who approved the template for production use, if anyone.
    public var approvalStamp: String?
    /// RFC 3339 time of the last change.
    public var lastUpdated: String

    public init(
        blueprintId: String, name: String, tier: BlueprintTier, allowedParameters: [String: ParameterBounds] = [:],
        risk: Float, stage: Int, quarantineOnly: Bool = false, approvalRequired: Bool = false,
        description: String, approvalStamp: String? = nil, lastUpdated: String = KarnCatalog.catalogRevision
    ) {
        contract = ContractBlueprintDescriptor(
            blueprintId: blueprintId, name: name, tier: tier, allowedParameters: allowedParameters, risk: risk,
            stage: UInt32(clamping: stage), quarantineOnly: quarantineOnly, approvalRequired: approvalRequired,
            description: description)
        self.approvalStamp = approvalStamp
        self.lastUpdated = lastUpdated
    }

    public init(contract: ContractBlueprintDescriptor, approvalStamp: String? = nil, lastUpdated: String = KarnCatalog.catalogRevision) {
        self.contract = contract
        self.approvalStamp = approvalStamp
        self.lastUpdated = lastUpdated
    }

    public var blueprintId: String {
        get { contract.blueprintId }
        set { contract.blueprintId = newValue }
    }
    /// snake_case template name.
    public var name: String {
        get { contract.name }
        set { contract.name = newValue }
    }
    public var tier: BlueprintTier {
        get { contract.tier }
        set { contract.tier = newValue }
    }
    /// Inclusive bounds per parameter; empty means the template takes no parameters.
    public var allowedParameters: [String: ParameterBounds] {
        get { contract.allowedParameters }
        set { contract.allowedParameters = newValue }
    }
    /// 0...1, a float32 in the contract (printed with 2 decimals by consumers).
    public var risk: Float {
        get { contract.risk }
        set { contract.risk = newValue }
    }
    /// Curriculum stage 0...6 (a negative value is stored as 0: the contract's field is unsigned).
    public var stage: Int {
        get { Int(contract.stage) }
        set { contract.stage = UInt32(clamping: newValue) }
    }
    public var quarantineOnly: Bool {
        get { contract.quarantineOnly }
        set { contract.quarantineOnly = newValue }
    }
    public var approvalRequired: Bool {
        get { contract.approvalRequired }
        set { contract.approvalRequired = newValue }
    }
    public var description: String {
        get { contract.description }
        set { contract.description = newValue }
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
        contract = ContractBlueprintDescriptor(
            blueprintId: try c.decodeIfPresent(String.self, forKey: .blueprintId) ?? "",
            name: try c.decodeIfPresent(String.self, forKey: .name) ?? "",
            tier: try c.decodeIfPresent(BlueprintTier.self, forKey: .tier) ?? .unspecified,
            allowedParameters: try c.decodeIfPresent([String: ParameterBounds].self, forKey: .allowedParameters) ?? [:],
            risk: Float(try c.decodeIfPresent(Double.self, forKey: .risk) ?? 0),
            stage: UInt32(clamping: try c.decodeIfPresent(Int.self, forKey: .stage) ?? 0),
            quarantineOnly: try c.decodeIfPresent(Bool.self, forKey: .quarantineOnly) ?? false,
            approvalRequired: try c.decodeIfPresent(Bool.self, forKey: .approvalRequired) ?? false,
            description: try c.decodeIfPresent(String.self, forKey: .description) ?? "")
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
