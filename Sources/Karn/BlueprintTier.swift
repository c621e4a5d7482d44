public import Leyline

// The risk tier of a template is Leyline's `BlueprintTier` (the one definition of the shared
// enum); the catalog adds ordering and a lenient parser.

extension BlueprintTier: Comparable {
    public static func < (a: BlueprintTier, b: BlueprintTier) -> Bool { a.rawValue < b.rawValue }
}

extension BlueprintTier {
    /// The Leyline enum name, e.g. `BLUEPRINT_TIER_SAFE` (the JSON form).
    public var enumName: String { name }

    /// Accepts the enum name, its short form in any case (`safe`, `HIGH_RISK`) or the number
    /// (query filters and stored catalog rows).
    public static func parse(_ text: String) -> BlueprintTier? {
        let upper = text.uppercased()
        if let tier = BlueprintTier(name: upper) ?? BlueprintTier(name: "BLUEPRINT_TIER_" + upper) { return tier }
        if let number = Int32(text) { return BlueprintTier(rawValue: number) }
        return nil
    }
}
