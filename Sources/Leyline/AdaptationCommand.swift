import EsperJSON

/// A control-plane command (Tamiyo → Kasmina/Tolaria). The `payload` oneof appears in JSON
/// as at most one of `seed_operation`, `optimizer_adjustment`, `circuit_breaker`,
/// `rollback_payload`; two of them is an error naming both.
public struct AdaptationCommand: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version, commandId = "command_id", commandType = "command_type", targetSeedId = "target_seed_id"
        case executionDeadlineMs = "execution_deadline_ms", issuedAt = "issued_at", issuedBy = "issued_by"
        case seedOperation = "seed_operation", optimizerAdjustment = "optimizer_adjustment"
        case circuitBreaker = "circuit_breaker", rollbackPayload = "rollback_payload", annotations
    }

    /// In key order, so both decoders name the same member when two are set.
    static let payloadKeys: [CodingKeys] = [.circuitBreaker, .optimizerAdjustment, .rollbackPayload, .seedOperation]

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.field(.version, or: 0)
        commandId = try c.field(.commandId, or: "")
        commandType = try c.field(.commandType, or: .unknown)
        targetSeedId = try c.field(.targetSeedId, or: "")
        executionDeadlineMs = try c.field(.executionDeadlineMs, or: 0)
        issuedAt = try c.field(.issuedAt, or: .epoch)
        issuedBy = try c.field(.issuedBy, or: "")
        annotations = try c.field(.annotations, or: [:])
        // A member set to null counts as absent (proto3 JSON).
        var present: [CodingKeys] = []
        for key in AdaptationCommand.payloadKeys where c.contains(key) {
            if try !c.decodeNil(forKey: key) { present.append(key) }
        }
        if present.count > 1 {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath + [present[1]],
                    debugDescription: "payload is a oneof: set only one of \(present.map(\.rawValue).joined(separator: ", "))"))
        }
        switch present.first {
        case .seedOperation?: payload = .seedOperation(try c.decode(CommandSeedOperation.self, forKey: .seedOperation))
        case .optimizerAdjustment?:
            payload = .optimizerAdjustment(try c.decode(CommandOptimizerAdjustment.self, forKey: .optimizerAdjustment))
        case .circuitBreaker?: payload = .circuitBreaker(try c.decode(CommandCircuitBreaker.self, forKey: .circuitBreaker))
        case .rollbackPayload?: payload = .rollbackPayload(try c.decode([String: JSONValue].self, forKey: .rollbackPayload))
        default: payload = nil
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(commandId, forKey: .commandId)
        try c.encode(commandType, forKey: .commandType)
        try c.encode(targetSeedId, forKey: .targetSeedId)
        try c.encode(executionDeadlineMs, forKey: .executionDeadlineMs)
        try c.encode(issuedAt, forKey: .issuedAt)
        try c.encode(issuedBy, forKey: .issuedBy)
        switch payload {
        case .seedOperation(let value)?: try c.encode(value, forKey: .seedOperation)
        case .optimizerAdjustment(let value)?: try c.encode(value, forKey: .optimizerAdjustment)
        case .circuitBreaker(let value)?: try c.encode(value, forKey: .circuitBreaker)
        case .rollbackPayload(let value)?: try c.encode(value, forKey: .rollbackPayload)
        case nil: break
        }
        try c.encode(annotations, forKey: .annotations)
    }

    public func validate(_ v: inout LeylineValidator) {
        v.version(version)
        v.identifier("command_id", commandId)
        v.known("command_type", commandType)
        v.optionalIdentifier("target_seed_id", targetSeedId)
        v.timestamp("issued_at", issuedAt)
        v.optionalIdentifier("issued_by", issuedBy)
        switch payload {
        case .seedOperation(let value)?: v.nested("seed_operation", value)
        case .optimizerAdjustment(let value)?: v.nested("optimizer_adjustment", value)
        case .circuitBreaker(let value)?: v.nested("circuit_breaker", value)
        case .rollbackPayload?, nil: break
        }
        if commandType == .seed {
            if targetSeedId.isEmpty { v.fail("target_seed_id", "is required for COMMAND_SEED") }
            if case .seedOperation? = payload {} else { v.fail("seed_operation", "is required for COMMAND_SEED") }
        }
        v.labels("annotations", annotations)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension AdaptationCommand: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "annotations", "circuit_breaker", "command_id", "command_type", "execution_deadline_ms", "issued_at", "issued_by",
        "optimizer_adjustment", "rollback_payload", "seed_operation", "target_seed_id", "version",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("annotations"); w.stringMap(annotations)
        if case .circuitBreaker(let value)? = payload { w.key("circuit_breaker"); value.write(to: &w) }
        w.key("command_id"); w.string(commandId)
        w.key("command_type"); w.value(commandType)
        w.key("execution_deadline_ms"); w.unsigned(executionDeadlineMs)
        w.key("issued_at"); w.timestamp(issuedAt)
        w.key("issued_by"); w.string(issuedBy)
        if case .optimizerAdjustment(let value)? = payload { w.key("optimizer_adjustment"); value.write(to: &w) }
        if case .rollbackPayload(let value)? = payload { w.key("rollback_payload"); w.json(.object(value)) }
        if case .seedOperation(let value)? = payload { w.key("seed_operation"); value.write(to: &w) }
        w.key("target_seed_id"); w.string(targetSeedId)
        w.key("version"); w.unsigned(version)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        version = 0  // absent means 0 (proto3), which validation then refuses
        var cursor = try r.beginObject()
        var members: [String] = []
        while let field = try r.nextField(AdaptationCommand.jsonFields, &cursor) {
            switch field {
            case 0: annotations = try r.stringMap()
            case 1: payload = .circuitBreaker(try CommandCircuitBreaker(reading: &r)); members.append("circuit_breaker")
            case 2: commandId = try r.string()
            case 3: commandType = try r.value(CommandType.self)
            case 4: executionDeadlineMs = try r.uint32()
            case 5: issuedAt = try r.timestamp()
            case 6: issuedBy = try r.string()
            case 7: payload = .optimizerAdjustment(try CommandOptimizerAdjustment(reading: &r)); members.append("optimizer_adjustment")
            case 8: payload = .rollbackPayload(try r.jsonObject()); members.append("rollback_payload")
            case 9: payload = .seedOperation(try CommandSeedOperation(reading: &r)); members.append("seed_operation")
            case 10: targetSeedId = try r.string()
            case 11: version = try r.uint32()
            default: break
            }
        }
        if members.count > 1 {
            // Named like the Codable path does: the second member in key order.
            let sorted = members.sorted()
            throw r.invalid("payload is a oneof: set only one of \(sorted.joined(separator: ", "))", field: sorted[1])
        }
    }
}
