/// A blueprint as the catalogue describes it (Karn/Urza).
public struct BlueprintDescriptor: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey {
        case blueprintId = "blueprint_id", name, tier, allowedParameters = "allowed_parameters", risk, stage
        case quarantineOnly = "quarantine_only", approvalRequired = "approval_required", description
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        blueprintId = try c.field(.blueprintId, or: "")
        name = try c.field(.name, or: "")
        tier = try c.field(.tier, or: .unspecified)
        allowedParameters = try c.field(.allowedParameters, or: [:])
        risk = try c.field(.risk, or: 0)
        stage = try c.field(.stage, or: 0)
        quarantineOnly = try c.field(.quarantineOnly, or: false)
        approvalRequired = try c.field(.approvalRequired, or: false)
        description = try c.field(.description, or: "")
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("blueprint_id", blueprintId)
        v.known("tier", tier)
        v.eachValue("allowed_parameters", allowedParameters)
        v.finite("risk", risk, in: 0...1)
    }
}

/// Allowed range of one blueprint parameter.
public struct BlueprintParameterBounds: Sendable, Equatable, Codable, LeylineValidatable {
    public var minValue: Double
    public var maxValue: Double

    public init(minValue: Double = 0, maxValue: Double = 0) {
        self.minValue = minValue
        self.maxValue = maxValue
    }

    enum CodingKeys: String, CodingKey { case minValue = "min_value", maxValue = "max_value" }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        minValue = try c.field(.minValue, or: 0)
        maxValue = try c.field(.maxValue, or: 0)
    }

    public func validate(_ v: inout LeylineValidator) {
        v.finite("min_value", minValue)
        v.finite("max_value", maxValue)
        if minValue.isFinite && maxValue.isFinite && minValue > maxValue {
            v.fail("min_value", "\(minValue) is greater than max_value \(maxValue)")
        }
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension BlueprintDescriptor: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "allowed_parameters", "approval_required", "blueprint_id", "description", "name", "quarantine_only", "risk", "stage", "tier",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("allowed_parameters"); w.map(allowedParameters)
        w.key("approval_required"); w.bool(approvalRequired)
        w.key("blueprint_id"); w.string(blueprintId)
        w.key("description"); w.string(description)
        w.key("name"); w.string(name)
        w.key("quarantine_only"); w.bool(quarantineOnly)
        w.key("risk"); w.float(risk)
        w.key("stage"); w.unsigned(stage)
        w.key("tier"); w.value(tier)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(BlueprintDescriptor.jsonFields, &cursor) {
            switch field {
            case 0: allowedParameters = try r.map(of: BlueprintParameterBounds.self)
            case 1: approvalRequired = try r.bool()
            case 2: blueprintId = try r.string()
            case 3: description = try r.string()
            case 4: name = try r.string()
            case 5: quarantineOnly = try r.bool()
            case 6: risk = try r.float()
            case 7: stage = try r.uint32()
            case 8: tier = try r.value(BlueprintTier.self)
            default: break
            }
        }
    }
}

extension BlueprintParameterBounds: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["max_value", "min_value"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("max_value"); w.double(maxValue)
        w.key("min_value"); w.double(minValue)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(BlueprintParameterBounds.jsonFields, &cursor) {
            switch field {
            case 0: maxValue = try r.double()
            case 1: minValue = try r.double()
            default: break
            }
        }
    }
}

/// The contract descriptor under a name modules with a `BlueprintDescriptor` of their own can
/// reach (Karn's catalog entry wraps it; `Leyline.X` names the `enum Leyline` namespace).
public typealias ContractBlueprintDescriptor = BlueprintDescriptor
