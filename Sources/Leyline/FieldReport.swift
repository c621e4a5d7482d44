/// What an adaptation did, observed over a window of epochs (Tamiyo → Simic).
public struct FieldReport: Sendable, Equatable, Codable, LeylineValidatable {
    public var version: UInt32
    public var reportId: String
    public var commandId: String
    public var trainingRunId: String
    public var seedId: String
    public var blueprintId: String
    public var outcome: FieldReportOutcome
    /// Δloss, Δaccuracy, …
    public var metrics: [String: Float]
    public var observationWindowEpochs: UInt32
    public var issuedAt: LeylineTimestamp
    public var tamiyoPolicyVersion: String
    public var followUpActions: [MitigationAction]
    public var notes: String
    /// Field 14 (extension): the policy's decisions since the run's previous report, ending
    /// with this seed's end, in epoch order — what Simic trains on. Empty when not recorded
    /// (and then omitted from the JSON).
    public var trajectory: [PolicyStep]

    public init(
        version: UInt32 = LeylineVersion.current, reportId: String = "", commandId: String = "",
        trainingRunId: String = "", seedId: String = "", blueprintId: String = "",
        outcome: FieldReportOutcome = .unspecified, metrics: [String: Float] = [:],
        observationWindowEpochs: UInt32 = 0, issuedAt: LeylineTimestamp = .epoch, tamiyoPolicyVersion: String = "",
        followUpActions: [MitigationAction] = [], notes: String = "", trajectory: [PolicyStep] = []
    ) {
        self.version = version
        self.reportId = reportId
        self.commandId = commandId
        self.trainingRunId = trainingRunId
        self.seedId = seedId
        self.blueprintId = blueprintId
        self.outcome = outcome
        self.metrics = metrics
        self.observationWindowEpochs = observationWindowEpochs
        self.issuedAt = issuedAt
        self.tamiyoPolicyVersion = tamiyoPolicyVersion
        self.followUpActions = followUpActions
        self.notes = notes
        self.trajectory = trajectory
    }

    enum CodingKeys: String, CodingKey {
        case version, reportId = "report_id", commandId = "command_id", trainingRunId = "training_run_id"
        case seedId = "seed_id", blueprintId = "blueprint_id", outcome, metrics
        case observationWindowEpochs = "observation_window_epochs", issuedAt = "issued_at"
        case tamiyoPolicyVersion = "tamiyo_policy_version", followUpActions = "follow_up_actions", notes
        case trajectory
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.field(.version, or: 0)
        reportId = try c.field(.reportId, or: "")
        commandId = try c.field(.commandId, or: "")
        trainingRunId = try c.field(.trainingRunId, or: "")
        seedId = try c.field(.seedId, or: "")
        blueprintId = try c.field(.blueprintId, or: "")
        outcome = try c.field(.outcome, or: .unspecified)
        metrics = try c.field(.metrics, or: [:])
        observationWindowEpochs = try c.field(.observationWindowEpochs, or: 0)
        issuedAt = try c.field(.issuedAt, or: .epoch)
        tamiyoPolicyVersion = try c.field(.tamiyoPolicyVersion, or: "")
        followUpActions = try c.field(.followUpActions, or: [])
        notes = try c.field(.notes, or: "")
        trajectory = try c.field(.trajectory, or: [])
    }

    /// As the direct writer does: `trajectory` only when there is one (older readers and the
    /// fixtures' sizes are unchanged).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(reportId, forKey: .reportId)
        try c.encode(commandId, forKey: .commandId)
        try c.encode(trainingRunId, forKey: .trainingRunId)
        try c.encode(seedId, forKey: .seedId)
        try c.encode(blueprintId, forKey: .blueprintId)
        try c.encode(outcome, forKey: .outcome)
        try c.encode(metrics, forKey: .metrics)
        try c.encode(observationWindowEpochs, forKey: .observationWindowEpochs)
        try c.encode(issuedAt, forKey: .issuedAt)
        try c.encode(tamiyoPolicyVersion, forKey: .tamiyoPolicyVersion)
        try c.encode(followUpActions, forKey: .followUpActions)
        try c.encode(notes, forKey: .notes)
        if !trajectory.isEmpty { try c.encode(trajectory, forKey: .trajectory) }
    }

    public func validate(_ v: inout LeylineValidator) {
        v.version(version)
        v.identifier("report_id", reportId)
        v.optionalIdentifier("command_id", commandId)
        v.optionalIdentifier("training_run_id", trainingRunId)
        v.optionalIdentifier("seed_id", seedId)
        v.optionalIdentifier("blueprint_id", blueprintId)
        v.known("outcome", outcome)
        v.metrics("metrics", metrics)
        v.timestamp("issued_at", issuedAt)
        v.optionalIdentifier("tamiyo_policy_version", tamiyoPolicyVersion)
        v.each("follow_up_actions", followUpActions)
        if trajectory.count > FieldReport.maxTrajectorySteps {
            v.fail("trajectory", "at most \(FieldReport.maxTrajectorySteps) steps")
        }
        v.each("trajectory", trajectory)
    }

    /// Bounds a report's size (each step is ~0.5 KB of JSON; the bus caps an entry at 256 KiB).
    public static let maxTrajectorySteps = 256
}

/// A follow-up the controller recommends after an adaptation.
public struct MitigationAction: Sendable, Equatable, Codable, LeylineValidatable {
    /// e.g. `CONSERVATIVE_MODE`, `ROLLBACK_REQUEST`, `NONE`.
    public var actionType: String
    public var rationale: String

    public init(actionType: String = "", rationale: String = "") {
        self.actionType = actionType
        self.rationale = rationale
    }

    enum CodingKeys: String, CodingKey { case actionType = "action_type", rationale }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        actionType = try c.field(.actionType, or: "")
        rationale = try c.field(.rationale, or: "")
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("action_type", actionType)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension FieldReport: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "blueprint_id", "command_id", "follow_up_actions", "issued_at", "metrics", "notes", "observation_window_epochs", "outcome",
        "report_id", "seed_id", "tamiyo_policy_version", "training_run_id", "trajectory", "version",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("blueprint_id"); w.string(blueprintId)
        w.key("command_id"); w.string(commandId)
        w.key("follow_up_actions"); w.array(followUpActions)
        w.key("issued_at"); w.timestamp(issuedAt)
        w.key("metrics"); w.floatMap(metrics)
        w.key("notes"); w.string(notes)
        w.key("observation_window_epochs"); w.unsigned(observationWindowEpochs)
        w.key("outcome"); w.value(outcome)
        w.key("report_id"); w.string(reportId)
        w.key("seed_id"); w.string(seedId)
        w.key("tamiyo_policy_version"); w.string(tamiyoPolicyVersion)
        w.key("training_run_id"); w.string(trainingRunId)
        if !trajectory.isEmpty { w.key("trajectory"); w.array(trajectory) }
        w.key("version"); w.unsigned(version)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        version = 0  // absent means 0 (proto3), which validation then refuses
        var cursor = try r.beginObject()
        while let field = try r.nextField(FieldReport.jsonFields, &cursor) {
            switch field {
            case 0: blueprintId = try r.string()
            case 1: commandId = try r.string()
            case 2: followUpActions = try r.array(of: MitigationAction.self)
            case 3: issuedAt = try r.timestamp()
            case 4: metrics = try r.floatMap()
            case 5: notes = try r.string()
            case 6: observationWindowEpochs = try r.uint32()
            case 7: outcome = try r.value(FieldReportOutcome.self)
            case 8: reportId = try r.string()
            case 9: seedId = try r.string()
            case 10: tamiyoPolicyVersion = try r.string()
            case 11: trainingRunId = try r.string()
            case 12: trajectory = try r.array(of: PolicyStep.self)
            case 13: version = try r.uint32()
            default: break
            }
        }
    }
}

extension MitigationAction: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["action_type", "rationale"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("action_type"); w.string(actionType)
        w.key("rationale"); w.string(rationale)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(MitigationAction.jsonFields, &cursor) {
            switch field {
            case 0: actionType = try r.string()
            case 1: rationale = try r.string()
            default: break
            }
        }
    }
}
