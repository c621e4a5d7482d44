/// A blueprint as the catalogue describes it (Karn/Urza).
public struct BlueprintDescriptor: LeylineMessage {
    public var blueprintId: String
    public var name: String
    public var tier: BlueprintTier
    public var allowedParameters: [String: BlueprintParameterBounds]
    /// 0 ... 1.
    public var risk: Float
    public var stage: UInt32
    public var quarantineOnly: Bool
    public var approvalRequired: Bool
    public var description: String

    public init(
        blueprintId: String = "", name: String = "", tier: BlueprintTier = .unspecified,
        allowedParameters: [String: BlueprintParameterBounds] = [:], risk: Float = 0, stage: UInt32 = 0,
        quarantineOnly: Bool = false, approvalRequired: Bool = false, description: String = ""
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
    }

    public static let fields = LeylineFields(
        BlueprintDescriptor(),
        [
            .field("blueprint_id", \.blueprintId, .identifier),
            .field("name", \.name),
            .field("tier", \.tier, .known),
            .field("allowed_parameters", \.allowedParameters),
            .field("risk", \.risk, .finite(in: 0...1)),
            .field("stage", \.stage),
            .field("quarantine_only", \.quarantineOnly),
            .field("approval_required", \.approvalRequired),
            .field("description", \.description),
        ])
}

/// Allowed range of one blueprint parameter.
public struct BlueprintParameterBounds: LeylineMessage {
    public var minValue: Double
    public var maxValue: Double

    public init(minValue: Double = 0, maxValue: Double = 0) {
        self.minValue = minValue
        self.maxValue = maxValue
    }

    public static let fields = LeylineFields(
        BlueprintParameterBounds(), [.field("min_value", \.minValue, .finite), .field("max_value", \.maxValue, .finite)])

    public func validate(_ v: inout LeylineValidator) {
        BlueprintParameterBounds.fields.validate(self, &v)
        if minValue.isFinite && maxValue.isFinite && minValue > maxValue {
            v.fail("min_value", "\(minValue) is greater than max_value \(maxValue)")
        }
    }
}

/// The contract descriptor under a name modules with a `BlueprintDescriptor` of their own can
/// reach (Karn's catalog entry wraps it; `Leyline.X` names the `enum Leyline` namespace).
public typealias ContractBlueprintDescriptor = BlueprintDescriptor
