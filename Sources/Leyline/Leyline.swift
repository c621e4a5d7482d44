// Leyline: shared contracts — every cross-subsystem enum and message as Sendable Swift
// types with their JSON coding, validation, the bus envelope and its HMAC signing, and the
// design's budgets and limits. No subsystem defines its own copy of a shared type.

/// The schema bundle these types implement (the reference registers it as `leyline-core`
/// version `v1alpha1`).
public struct LeylineSchemaBundle: Sendable, Equatable {
    public let name: String
    public let version: String
    /// Where the schema is written down, relative to the repository root.
    public let schemaLocation: String
}

public enum Leyline {
    /// The default bundle.
    public static let coreBundle = LeylineSchemaBundle(
        name: "leyline-core", version: "v1alpha1",
        schemaLocation: "docs/leyline.md")

    /// Every registered bundle (one today).
    public static let bundles: [LeylineSchemaBundle] = [coreBundle]

    public static func bundle(named name: String) -> LeylineSchemaBundle? { bundles.first { $0.name == name } }
}
