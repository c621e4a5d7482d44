/// New controller policy weights (Simic → Tamiyo). `payload` is opaque bytes here; its
/// weight format and checksum belong to Simic/Tamiyo, and its size is bounded by the bus
/// entry cap (256 KiB) — larger policies travel as a reference to a stored artifact.
public struct PolicyUpdate: LeylineMessage {
    public var version: UInt32
    public var policyId: String
    public var trainingRunId: String
    public var issuedAt: LeylineTimestamp
    public var tamiyoPolicyVersion: String
    public var payload: LeylineBytes

    public init(
        version: UInt32 = LeylineVersion.current, policyId: String = "", trainingRunId: String = "",
        issuedAt: LeylineTimestamp = .epoch, tamiyoPolicyVersion: String = "", payload: LeylineBytes = LeylineBytes()
    ) {
        self.version = version
        self.policyId = policyId
        self.trainingRunId = trainingRunId
        self.issuedAt = issuedAt
        self.tamiyoPolicyVersion = tamiyoPolicyVersion
        self.payload = payload
    }

    public static let fields = LeylineFields(
        PolicyUpdate(version: 0),
        [
            .field("version", \.version, .version),
            .field("policy_id", \.policyId, .identifier),
            .field("training_run_id", \.trainingRunId, .optionalIdentifier),
            .field("issued_at", \.issuedAt),
            .field("tamiyo_policy_version", \.tamiyoPolicyVersion, .optionalIdentifier),
            .field("payload", \.payload),
        ])
}
