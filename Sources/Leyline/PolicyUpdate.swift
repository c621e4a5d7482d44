/// New controller policy weights (Simic → Tamiyo). `payload` is opaque bytes here; its
/// weight format and checksum belong to Simic/Tamiyo, and its size is bounded by the bus
/// entry cap (256 KiB) — larger policies travel as a reference to a stored artifact.
public struct PolicyUpdate: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey {
        case version, policyId = "policy_id", trainingRunId = "training_run_id", issuedAt = "issued_at"
        case tamiyoPolicyVersion = "tamiyo_policy_version", payload
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.field(.version, or: 0)
        policyId = try c.field(.policyId, or: "")
        trainingRunId = try c.field(.trainingRunId, or: "")
        issuedAt = try c.field(.issuedAt, or: .epoch)
        tamiyoPolicyVersion = try c.field(.tamiyoPolicyVersion, or: "")
        payload = try c.field(.payload, or: LeylineBytes())
    }

    public func validate(_ v: inout LeylineValidator) {
        v.version(version)
        v.identifier("policy_id", policyId)
        v.optionalIdentifier("training_run_id", trainingRunId)
        v.timestamp("issued_at", issuedAt)
        v.optionalIdentifier("tamiyo_policy_version", tamiyoPolicyVersion)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension PolicyUpdate: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["issued_at", "payload", "policy_id", "tamiyo_policy_version", "training_run_id", "version"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("issued_at"); w.timestamp(issuedAt)
        w.key("payload"); w.string(Base64.encode(payload.bytes))
        w.key("policy_id"); w.string(policyId)
        w.key("tamiyo_policy_version"); w.string(tamiyoPolicyVersion)
        w.key("training_run_id"); w.string(trainingRunId)
        w.key("version"); w.unsigned(version)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        version = 0  // absent means 0 (proto3), which validation then refuses
        var cursor = try r.beginObject()
        while let field = try r.nextField(PolicyUpdate.jsonFields, &cursor) {
            switch field {
            case 0: issuedAt = try r.timestamp()
            case 1: payload = try r.bytes()
            case 2: policyId = try r.string()
            case 3: tamiyoPolicyVersion = try r.string()
            case 4: trainingRunId = try r.string()
            case 5: version = try r.uint32()
            default: break
            }
        }
    }
}
