/// Who steers a run at its epoch boundaries (`policy` in the run config).
public enum ControlPolicy: String, Sendable, Codable, CaseIterable {
    /// No controller: the host trains as configured, nothing is grafted.
    case none
    /// Tamiyo's rule-based policy: plateau detection, gates, cull on regression.
    case heuristic
    /// Tamiyo's policy network (the one Simic trains), under the same risk engine.
    case learned
    /// No judgement: germinates where and when `seeds.schedule` says and walks each seed
    /// through its stages on fixed durations (a study's `fixed_schedule` control).
    case scheduled
}

/// A deliberately broken graft, to exercise Kasmina's isolation checks end to end (like
/// `fault_injection` for the host): `detach_leak` attaches seeds without the detach, so the
/// seed's input gradient flows into the host's.
public struct SeedFaultInjection: Sendable, Codable, Equatable {
    public var detachLeak: Bool = false
    public init(detachLeak: Bool = false) { self.detachLeak = detachLeak }
}

/// How seeds are grafted and gated in a run (`seeds` in the run config). Epoch counts are
/// epochs of the run; the α ramp counts optimizer steps. Defaults follow 02-kasmina.md where
/// it gives numbers, scaled to small CPU runs where it gives none.
public struct SeedSettings: Sendable, Codable, Equatable {
    /// Slots seeds may be grafted into (`slot-<i>` after hidden layer i); nil: every slot
    /// whose width the blueprint kernels are compiled for.
    public var slots: [String]?
    /// Candidate blueprints in order of preference; nil: the SAFE residual templates available
    /// for the slot width (Karn's conservative pool order: lowest risk first).
    public var blueprints: [String]?
    /// Approval-required templates an operator approved for this run (others are held).
    public var approvedBlueprints: [String] = []
    /// Test override of the quarantine gate: quarantine-only (fault) templates may be grafted
    /// when they are also approved. Kasmina's isolation checks still apply.
    public var allowHighRisk = false
    /// Seeds in their lifecycle at the same time (one keeps every change attributable).
    public var maxActiveSeeds = 1
    /// Germinations per run at most.
    public var maxGerminations = 8
    /// Epochs before the first germination may happen.
    public var warmupEpochs = 3
    /// A plateau: the best validation loss has not improved by `plateauDelta` for this many epochs.
    public var plateauEpochs = 5
    public var plateauDelta = 1e-4
    /// TRAINING lasts at least this many epochs, and is culled after the maximum if the seed's
    /// shadow loss never beat the host's.
    public var minTrainingEpochs = 3
    public var maxTrainingEpochs = 10
    /// Optimizer steps of the α ramp (sigmoid, clamped to exactly 0 and 1 at the ends).
    public var graftSteps = 30
    /// Temperature τ of the ramp α_t = σ((t − T/2)/τ).
    public var graftTemperature = 1.0
    /// Epochs in STABILIZING (seed frozen, host settles) and EVALUATING (measured).
    public var stabilizationEpochs = 2
    public var evaluationEpochs = 2
    /// Validation-loss improvement a seed must bring to be fossilised (gate G4).
    public var improvementThreshold = 0.001
    /// Epochs a slot stays closed after a cull.
    public var embargoEpochs = 10
    /// Seed learning rate = host rate × this, warmed up linearly from × 0.01 of it over
    /// `learningRateWarmupEpochs`. The spec's numbers (× 0.1, 10-epoch warm-up) assume epochs
    /// of thousands of steps; at tens of steps per epoch a seed would not move before its
    /// gates judge it, so the defaults are × 1 without warm-up (set them to follow the spec).
    public var learningRateFactor: Float = 1
    public var learningRateWarmupEpochs = 0
    /// Seed gradients are clipped to this global norm (their own, never the host's).
    public var gradientClipNorm: Float = 1
    /// The design's α-dependent clip, 0.1/(1 + 100(α − 0.5)²), within `gradientClipNorm`
    /// (Kasmina's `AdaptiveGradientClip`). Optional so run configs stored before it decode.
    public var adaptiveGradientClip: Bool?
    /// Frozen-base mode: host groups stop learning once the first seed germinates.
    public var hostFrozen = false
    /// Growth stops here: no germination whose parameters would take the host plus its seeds
    /// past this many (nil: no budget beyond `max_germinations`).
    public var parameterBudget: Int?
    public var faultInjection: SeedFaultInjection?
    /// The germinations of the `scheduled` policy, by epoch (nil with any other policy).
    public var schedule: [ScheduledGermination]?
    /// The risk engine keeps the host learning rate within [configured ÷ this, configured ×
    /// this]: a policy that raises it at every boundary (a learned one did, 50 times a run)
    /// must not be able to ruin the run. A change past the bound is cut to the bound. nil:
    /// `defaultMaxLearningRateRatio` (optional so that run configs stored before it decode).
    public var maxLearningRateRatio: Float?
    /// At most one host learning-rate change per this many epochs (0: no cooldown); a change
    /// sooner is refused, so the effect of the last one can be seen first. nil: the default.
    public var learningRateCooldownEpochs: Int?
    public static let defaultMaxLearningRateRatio: Float = 10
    public static let defaultLearningRateCooldownEpochs = 5
    public var effectiveMaxLearningRateRatio: Float { maxLearningRateRatio ?? SeedSettings.defaultMaxLearningRateRatio }
    public var effectiveLearningRateCooldownEpochs: Int { learningRateCooldownEpochs ?? SeedSettings.defaultLearningRateCooldownEpochs }

    public init() {}
}
