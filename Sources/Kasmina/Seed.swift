public import Kernels
public import Leyline
import Synchronization
public import Tolaria

/// Where a seed's kernel came from (Urza's fallback chain: requested → BP001 → identity).
public struct KernelOrigin: Sendable, Equatable, Codable {
    /// The blueprint the command asked for.
    public var requestedId: String
    /// The blueprint whose kernel was grafted ("identity" for the built-in pass-through).
    public var kernelId: String
    /// requested, fallback or identity (Urza's chain); for host-shaped seeds (widening, conv
    /// branch), whose kernel is the built-in C kernel made for the host's shape, urza when
    /// Tezzeret's compile at that shape is in Urza (`kernelId` is then the artifact id,
    /// `BP052-i40-o10`), built when it is not.
    public var source: String
    public var fetchLatencyMs: Double
    public var fallbackReason: String?
    public var parameterCount: Int
    public var kind: String
    /// Widening seeds: the kernel's shape (nil for slot kernels from Urza).
    public var widening: WideningShape? = nil
    /// Conv-branch seeds: the branch's shape (nil for every other seed).
    public var convBranch: ConvBranchShape? = nil
    /// Depth seeds (inserted convs): the layer's shape (nil for every other seed).
    public var convInsert: ConvInsertShape? = nil

    public var usedFallback: Bool { source == "fallback" || source == "identity" }
}

/// What a seed's field report compares against: the validation numbers when it germinated.
public struct SeedBaseline: Sendable, Equatable, Codable {
    public var validationLoss: Double
    public var validationAccuracy: Double
    public var epoch: Int
    public var commandId: String
}

/// A cull asked for from outside the training thread (the REST endpoint): the slot looks at
/// it before every training batch, so the host function is back within one batch.
public final class CullRequest: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public var isSet: Bool { flag.load(ordering: .acquiring) }
    public func set() { flag.store(true, ordering: .releasing) }
}

/// One grafted seed: its kernel bound into its own parameter block and optimizer group
/// (`seed.<id>`), its lifecycle, α and the per-epoch measurements the gates and telemetry
/// use. Lives on the run's training thread.
public final class Seed {
    public let id: String
    public let slot: String
    public let layer: Int
    public let origin: KernelOrigin
    public let baseline: SeedBaseline
    public internal(set) var lifecycle: SeedLifecycle
    /// Transitions of `lifecycle.history` already published as `seed_transition` events (a
    /// seed restored from a checkpoint starts with its whole history reported).
    var reportedTransitions: Int
    let block: ParameterBlock
    public let group: ParameterGroup
    let branch: any SeedBranch
    /// Current blend weight (GRAFTING ramps it; 1 afterwards).
    public internal(set) var alpha: Float = 0
    /// Optimizer steps taken in GRAFTING (the ramp's t).
    public internal(set) var graftStep = 0
    /// Held by a PAUSE: the slot computes the host function and the seed does not learn.
    public internal(set) var pausedUntilEpoch: Int?
    public internal(set) var violations: [IsolationViolation] = []
    /// Why it is being culled (nil while alive).
    public internal(set) var cullReason: String?
    /// True when the cull came from the isolation breaker (its blueprint is quarantined).
    public internal(set) var quarantine = false
    public internal(set) var stageEnteredEpoch: Int
    public let cullRequest = CullRequest()
    /// Optimizer steps the seed has taken (its dropout step counter).
    var steps: UInt64 = 0

    /// Measurements of the current epoch (reset at each boundary).
    struct EpochStats {
        var shadowLossSum = 0.0
        var shadowCorrect = 0
        var shadowSamples = 0
        var gradientNormSum = 0.0
        var gradientNormCount = 0
        var driftSum = 0.0
        var driftCount = 0
    }

    var stats = EpochStats()
    /// The last finished epoch's measurements, for telemetry and the policy.
    public internal(set) var lastEpoch = EpochMeasurements()

    public struct EpochMeasurements: Sendable, Equatable, Codable {
        /// Mean shadow (TRAINING objective) loss and accuracy; nil outside TRAINING.
        public var shadowLoss: Double?
        public var shadowAccuracy: Double?
        /// Mean L2 norm of the seed's gradients per optimizer step (before clipping).
        public var gradientNorm: Double = 0
        /// Mean 1 − cos(h, y) at the slot (gate G2).
        public var drift: Double = 0
        /// Validation with the seed bypassed (Tolaria's ablation pass), when measured.
        public var ablationValidationLoss: Double?
        public var ablationValidationAccuracy: Double?
        public var epoch: Int = -1
    }

    init(
        id: String, slot: String, layer: Int, origin: KernelOrigin, baseline: SeedBaseline, lifecycle: SeedLifecycle,
        block: ParameterBlock, branch: any SeedBranch, learningRate: Float, epoch: Int
    ) {
        self.id = id
        self.slot = slot
        self.layer = layer
        self.origin = origin
        self.baseline = baseline
        self.lifecycle = lifecycle
        reportedTransitions = lifecycle.history.count
        self.block = block
        self.branch = branch
        group = ParameterGroup(name: "seed.\(id)", block: block, offset: 0, count: branch.parameterCount, learningRate: learningRate)
        stageEnteredEpoch = epoch
    }

    public var stage: SeedLifecycleStage { lifecycle.stage }
    public var parameterCount: Int { branch.parameterCount }
    public var isResidual: Bool { branch.isResidual }
    /// New hidden units beside the slot's layer rather than a module on its activation.
    public var isWidening: Bool { origin.widening != nil }
    /// Adds to the next layer's pre-activation (widening and conv-branch seeds) rather than
    /// acting on the slot's activation.
    public var addsToPreactivation: Bool { origin.widening != nil || origin.convBranch != nil || origin.convInsert != nil }
    public var violationCount: Int { violations.count }

    /// Whether the seed's parameters learn this step: TRAINING (shadow objective), GRAFTING
    /// and FINE_TUNING (task loss), unless paused or being culled.
    var learns: Bool {
        guard cullReason == nil, pausedUntilEpoch == nil else { return false }
        return stage == .training || stage == .grafting || stage == .fineTuning
    }

    /// Whether its kernel output takes part in the slot's forward (α > 0 stages).
    var blended: Bool {
        guard cullReason == nil, pausedUntilEpoch == nil else { return false }
        return stage == .grafting || stage == .stabilizing || stage == .evaluating || stage == .fineTuning
    }

    func transition(to next: SeedLifecycleStage, epoch: Int) throws(LifecycleError) {
        try lifecycle.transition(to: next, epoch: epoch)
        stageEnteredEpoch = epoch
        group.frozen = !(next == .training || next == .grafting || next == .fineTuning)
    }

    /// Epochs spent in the current stage (0 in the epoch it was entered).
    public func epochsInStage(at epoch: Int) -> Int { max(0, epoch - stageEnteredEpoch) }

    /// Closes the epoch's measurements.
    func closeEpoch(_ epoch: Int, ablation: (loss: Double, accuracy: Double)?) {
        var m = EpochMeasurements(epoch: epoch)
        if stats.shadowSamples > 0 {
            m.shadowLoss = stats.shadowLossSum / Double(stats.shadowSamples)
            m.shadowAccuracy = Double(stats.shadowCorrect) / Double(stats.shadowSamples)
        }
        m.gradientNorm = stats.gradientNormCount > 0 ? stats.gradientNormSum / Double(stats.gradientNormCount) : 0
        m.drift = stats.driftCount > 0 ? stats.driftSum / Double(stats.driftCount) : 0
        m.ablationValidationLoss = ablation?.loss
        m.ablationValidationAccuracy = ablation?.accuracy
        lastEpoch = m
        stats = EpochStats()
    }

    /// The Leyline view (`seed_states` of the state packet).
    public func state(epoch: Int) -> SeedState {
        var metrics: [String: Float] = [
            "alpha": alpha, "parameters": Float(parameterCount), "isolation_violations": Float(violations.count),
            "drift": Float(lastEpoch.drift), "fetch_latency_ms": Float(origin.fetchLatencyMs),
            "fallback": origin.usedFallback ? 1 : 0, "paused": pausedUntilEpoch == nil ? 0 : 1,
        ]
        if let loss = lastEpoch.shadowLoss, loss.isFinite { metrics["local_loss"] = Float(loss) }
        if let loss = lastEpoch.ablationValidationLoss, loss.isFinite { metrics["ablation_validation_loss"] = Float(loss) }
        metrics = metrics.filter { $0.value.isFinite }
        let norm = lastEpoch.gradientNorm.isFinite ? Float(min(lastEpoch.gradientNorm, Double(Float.greatestFiniteMagnitude))) : 0
        return SeedState(
            seedId: id, stage: stage, gradientNorm: norm, learningRate: group.learningRate, layerDepth: UInt32(layer),
            metrics: metrics, ageEpochs: UInt32(max(0, epoch - baseline.epoch)),
            riskScore: min(1, Float(violations.count) / Float(IsolationGuard.breachThreshold)))
    }
}
