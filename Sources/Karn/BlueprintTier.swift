/// Risk tier of a template (Leyline `BlueprintTier`).
public enum BlueprintTier: Int, CaseIterable, Sendable, Comparable, Codable, CustomStringConvertible {
    case unspecified = 0
    case safe = 1
    case experimental = 2
    case highRisk = 3

    /// The Leyline enum name, e.g. `BLUEPRINT_TIER_SAFE` (the JSON form).
    public var enumName: String {
        switch self {
        case .unspecified: "BLUEPRINT_TIER_UNSPECIFIED"
        case .safe: "BLUEPRINT_TIER_SAFE"
        case .experimental: "BLUEPRINT_TIER_EXPERIMENTAL"
        case .highRisk: "BLUEPRINT_TIER_HIGH_RISK"
        }
    }

    public var description: String { enumName }

    /// Accepts the enum name, its short form in any case (`safe`, `HIGH_RISK`) or the number.
    public init?(name: String) {
        let upper = name.uppercased()
        if let tier = BlueprintTier.allCases.first(where: { $0.enumName == upper || $0.enumName == "BLUEPRINT_TIER_" + upper }) {
            self = tier
        } else if let number = Int(name), let tier = BlueprintTier(rawValue: number) {
            self = tier
        } else {
            return nil
        }
    }

    public static func < (a: BlueprintTier, b: BlueprintTier) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self), let tier = BlueprintTier(rawValue: number) {
            self = tier
            return
        }
        let name = try container.decode(String.self)
        guard let tier = BlueprintTier(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "'\(name)' is not a tier (BLUEPRINT_TIER_SAFE, _EXPERIMENTAL, _HIGH_RISK)"))
        }
        self = tier
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(enumName)
    }
}
