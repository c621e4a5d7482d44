/// Risk tier of a blueprint.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum BlueprintTier: Int32, LeylineEnum {
    case unspecified = 0
    case safe = 1
    case experimental = 2
    case highRisk = 3

    public static let protoNames = [
        "BLUEPRINT_TIER_UNSPECIFIED",
        "BLUEPRINT_TIER_SAFE",
        "BLUEPRINT_TIER_EXPERIMENTAL",
        "BLUEPRINT_TIER_HIGH_RISK",
    ]
}
