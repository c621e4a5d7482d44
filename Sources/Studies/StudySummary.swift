// GET /api/v1/studies/{id}: progress, per-group statistics over seeds, and each arm's verdicts against its controls.

/// The statistics of one metric family over a group's succeeded runs.
public struct GroupStatistics: Sendable, Codable, Equatable {
    public var finalValidationAccuracy: SampleStatistics
    public var bestValidationAccuracy: SampleStatistics
    public var finalValidationLoss: SampleStatistics
    public var bestValidationLoss: SampleStatistics
    /// Held-out test accuracy (`n` = 0 when the group's runs have no fixed test split).
    public var finalTestAccuracy: SampleStatistics
    public var bestTestAccuracy: SampleStatistics
    public var trainingFlops: SampleStatistics
    public var parameters: SampleStatistics
    public var wallTimeSeconds: SampleStatistics
    public var germinations: SampleStatistics
    public var fossilisations: SampleStatistics
    public var culls: SampleStatistics

    public init(_ runs: [RunOutcome]) {
        func stats(_ value: (RunOutcome) -> Double?) -> SampleStatistics { SampleStatistics(runs.compactMap(value)) }
        finalValidationAccuracy = stats(\.finalValidationAccuracy)
        bestValidationAccuracy = stats(\.bestValidationAccuracy)
        finalValidationLoss = stats(\.finalValidationLoss)
        bestValidationLoss = stats(\.bestValidationLoss)
        finalTestAccuracy = stats(\.finalTestAccuracy)
        bestTestAccuracy = stats(\.bestTestAccuracy)
        trainingFlops = stats(\.trainingFlops)
        parameters = stats { $0.parameters.map(Double.init) }
        wallTimeSeconds = stats(\.wallTimeSeconds)
        germinations = stats { Double($0.germinations) }
        fossilisations = stats { Double($0.fossilisations) }
        culls = stats { Double($0.culls) }
    }
}

/// A run that will not count: failed, cancelled, or never created (and why).
public struct StudyRunProblem: Sendable, Codable, Equatable {
    public var runId: String?
    public var seed: UInt64
    public var status: String
    public var error: String?
}

/// One arm, control or fixed config of a study.
public struct StudyGroupSummary: Sendable, Codable, Equatable {
    public var name: String
    public var kind: StudyGroupKind
    public var arm: String?
    /// Runs planned for the group (one per seed).
    public var planned: Int
    /// Statistics over the group's succeeded runs (`n` of each says how many had the value).
    public var statistics: GroupStatistics
    public var runs: [RunOutcome]
    /// Failed or cancelled runs and members that got no run: counted, never dropped silently.
    public var failed: [StudyRunProblem]
}

/// An arm against one control (or fixed config), per metric.
public struct ArmVerdicts: Sendable, Codable, Equatable {
    public var arm: String
    public var control: String
    public var comparisons: [WelchComparison]

    /// Final validation accuracy (higher is better) and loss (lower is better) over the two
    /// groups' succeeded runs; final test accuracy (higher is better) and training FLOPs
    /// (lower is better) too when either group's runs report them.
    public init(arm: StudyGroupSummary, control: StudyGroupSummary) {
        self.arm = arm.name
        self.control = control.name
        let a = arm.runs.filter { $0.status == .succeeded }, c = control.runs.filter { $0.status == .succeeded }
        func compare(_ metric: String, _ value: (RunOutcome) -> Double?, higherIsBetter: Bool) -> WelchComparison {
            WelchComparison(metric: metric, arm: a.compactMap(value), control: c.compactMap(value), higherIsBetter: higherIsBetter)
        }
        comparisons = [
            compare("final_validation_accuracy", \.finalValidationAccuracy, higherIsBetter: true),
            compare("final_validation_loss", \.finalValidationLoss, higherIsBetter: false),
        ]
        if (a + c).contains(where: { $0.finalTestAccuracy != nil }) {
            comparisons.append(compare("final_test_accuracy", \.finalTestAccuracy, higherIsBetter: true))
        }
        if (a + c).contains(where: { $0.trainingFlops != nil }) {
            comparisons.append(compare("training_flops", \.trainingFlops, higherIsBetter: false))
        }
    }
}

/// Where a study's runs are.
public struct StudyProgress: Sendable, Codable, Equatable {
    public var planned: Int
    /// Members without a run yet (static_final runs wait for their grown run).
    public var pending: Int
    public var queued = 0
    public var running = 0
    public var paused = 0
    public var succeeded = 0
    public var failed = 0
    public var cancelled = 0
    /// Members that can get no run (the grown run failed; the config was refused).
    public var notCreated = 0
    /// Epochs completed over epochs planned, over the runs created so far.
    public var epochsDone = 0
    public var epochsPlanned = 0
    /// The last sign of progress: the newest epoch any of its runs finished, or the study's
    /// creation (what the runbook's stuck-study check compares with now).
    public var lastProgressAt = ""
}

/// The study as `GET /api/v1/studies/{id}` shows it.
public struct StudySummary: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    /// `stopped` (by the user), `completed` (every member has finished or can get no run),
    /// `paused` or `running`.
    public var status: String
    public var state: StudyState
    public var createdAt: String
    public var request: StudyRequest
    public var progress: StudyProgress
    public var groups: [StudyGroupSummary]
    public var verdicts: [ArmVerdicts]
}

/// One event of `GET /api/v1/studies/{id}/events` (`event: study`).
public struct StudyProgressEvent: Sendable, Codable, Equatable {
    public var studyId: String
    public var name: String
    public var status: String
    public var state: StudyState
    public var progress: StudyProgress
}

/// A list entry of `GET /api/v1/studies` (no statistics).
public struct StudyListItem: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var status: String
    public var state: StudyState
    public var createdAt: String
    public var progress: StudyProgress
}
