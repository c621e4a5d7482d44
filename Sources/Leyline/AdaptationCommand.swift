/// A control-plane command (Tamiyo → Kasmina/Tolaria). The `payload` oneof appears in JSON
/// as at most one of `seed_operation`, `optimizer_adjustment`, `circuit_breaker`,
/// `rollback_payload`; two of them is an error naming both.
public struct AdaptationCommand: LeylineMessage {
    public var version: UInt32
    /// A UUID.
    public var commandId: String
    public var commandType: CommandType
    /// Empty when the command is not seed-specific.
    public var targetSeedId: String
    /// Epoch budget the executor must honour.
    public var executionDeadlineMs: UInt32
    public var issuedAt: LeylineTimestamp
    /// e.g. `"tamiyo"`.
    public var issuedBy: String
    public var payload: CommandPayload?
    /// Free-form: `risk_reason`, `blueprint_tier`, `blueprint_risk`, `policy_action`, …
    public var annotations: [String: String]

    public init(
        version: UInt32 = LeylineVersion.current, commandId: String = "", commandType: CommandType = .unknown,
        targetSeedId: String = "", executionDeadlineMs: UInt32 = 0, issuedAt: LeylineTimestamp = .epoch,
        issuedBy: String = "", payload: CommandPayload? = nil, annotations: [String: String] = [:]
    ) {
        self.version = version
        self.commandId = commandId
        self.commandType = commandType
        self.targetSeedId = targetSeedId
        self.executionDeadlineMs = executionDeadlineMs
        self.issuedAt = issuedAt
        self.issuedBy = issuedBy
        self.payload = payload
        self.annotations = annotations
    }

    public static let fields = LeylineFields(
        AdaptationCommand(version: 0),
        [
            .field("version", \.version, .version),
            .field("command_id", \.commandId, .identifier),
            .field("command_type", \.commandType, .known),
            .field("target_seed_id", \.targetSeedId, .optionalIdentifier),
            .field("execution_deadline_ms", \.executionDeadlineMs),
            .field("issued_at", \.issuedAt),
            .field("issued_by", \.issuedBy, .optionalIdentifier),
            .member("seed_operation", of: "payload", \.payload, CommandPayload.seedOperation) {
                if case .seedOperation(let value) = $0 { value } else { nil }
            },
            .member("optimizer_adjustment", of: "payload", \.payload, CommandPayload.optimizerAdjustment) {
                if case .optimizerAdjustment(let value) = $0 { value } else { nil }
            },
            .member("circuit_breaker", of: "payload", \.payload, CommandPayload.circuitBreaker) {
                if case .circuitBreaker(let value) = $0 { value } else { nil }
            },
            .member("rollback_payload", of: "payload", \.payload, CommandPayload.rollbackPayload) {
                if case .rollbackPayload(let value) = $0 { value } else { nil }
            },
            .field("annotations", \.annotations),
        ])

    public func validate(_ v: inout LeylineValidator) {
        AdaptationCommand.fields.validate(self, &v)
        if commandType == .seed {
            if targetSeedId.isEmpty { v.fail("target_seed_id", "is required for COMMAND_SEED") }
            if case .seedOperation? = payload {} else { v.fail("seed_operation", "is required for COMMAND_SEED") }
        }
    }
}
