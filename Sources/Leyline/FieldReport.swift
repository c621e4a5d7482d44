/// What an adaptation did, observed over a window of epochs (Tamiyo → Simic).
public struct FieldReport: LeylineMessage {
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
    /// Field 15 (extension): the growth family of the blueprint (Karn's `family`: `widening`,
    /// `slot`, `structure`, …), so an operator sees which kind of growth was kept or dropped.
    /// Empty when unknown (and then omitted from the JSON).
    public var family: String
    /// Field 16 (extension): why the seed was culled (`no_improvement`, `regression`,
    /// `isolation_breach`, …); empty for a fossilised seed (and then omitted).
    public var cullReason: String

    public init(
        version: UInt32 = LeylineVersion.current, reportId: String = "", commandId: String = "",
        trainingRunId: String = "", seedId: String = "", blueprintId: String = "",
        outcome: FieldReportOutcome = .unspecified, metrics: [String: Float] = [:],
        observationWindowEpochs: UInt32 = 0, issuedAt: LeylineTimestamp = .epoch, tamiyoPolicyVersion: String = "",
        followUpActions: [MitigationAction] = [], notes: String = "", trajectory: [PolicyStep] = [], family: String = "",
        cullReason: String = ""
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
        self.family = family
        self.cullReason = cullReason
    }

    public static let fields = LeylineFields(
        FieldReport(version: 0),
        [
            .field("version", \.version, .version),
            .field("report_id", \.reportId, .identifier),
            .field("command_id", \.commandId, .optionalIdentifier),
            .field("training_run_id", \.trainingRunId, .optionalIdentifier),
            .field("seed_id", \.seedId, .optionalIdentifier),
            .field("blueprint_id", \.blueprintId, .optionalIdentifier),
            .field("outcome", \.outcome, .known),
            .field("metrics", \.metrics),
            .field("observation_window_epochs", \.observationWindowEpochs),
            .field("issued_at", \.issuedAt),
            .field("tamiyo_policy_version", \.tamiyoPolicyVersion, .optionalIdentifier),
            .field("follow_up_actions", \.followUpActions),
            .field("notes", \.notes),
            // Written only when there is one (older readers and the fixtures' sizes are unchanged).
            .field(
                "trajectory", \.trajectory,
                .that { steps, field, v in
                    if steps.count > FieldReport.maxTrajectorySteps { v.fail(field, "at most \(FieldReport.maxTrajectorySteps) steps") }
                }, omitWhen: \.isEmpty),
            .field("family", \.family, omitWhen: \.isEmpty),
            .field("cull_reason", \.cullReason, omitWhen: \.isEmpty),
        ])

    /// Bounds a report's size (each step is ~0.5 KB of JSON; the bus caps an entry at 256 KiB).
    public static let maxTrajectorySteps = 256
}

/// A follow-up the controller recommends after an adaptation.
public struct MitigationAction: LeylineMessage {
    /// e.g. `CONSERVATIVE_MODE`, `ROLLBACK_REQUEST`, `NONE`.
    public var actionType: String
    public var rationale: String

    public init(actionType: String = "", rationale: String = "") {
        self.actionType = actionType
        self.rationale = rationale
    }

    public static let fields = LeylineFields(
        MitigationAction(), [.field("action_type", \.actionType, .identifier), .field("rationale", \.rationale)])
}
