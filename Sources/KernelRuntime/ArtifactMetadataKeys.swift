/// Metadata keys of an artifact that more than the compiler reads (Urza indexes them).
public enum ArtifactMetadataKeys {
    /// `{name: double}` exactly as requested.
    public static let requestedParameters = "requested_parameters"
    /// `{name: double}` as the kernel uses them (typed, snapped).
    public static let effectiveParameters = "effective_parameters"
    /// `{"status": "VALIDATED" | "UNSAFE", "expected_unsafe": bool, "gates": [...]}`.
    public static let validation = "validation"
    /// The descriptor snapshot the kernel was compiled for.
    public static let descriptor = "descriptor"
}
