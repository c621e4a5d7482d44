public import Kasmina
public import Leyline
public import TamiyoNetwork
public import Tolaria

/// Everything a policy sees at an epoch boundary: the epoch's real numbers, the plateau
/// state, Kasmina's seeds and slots, and the blueprints that can actually be grafted where.
public struct PolicyObservation: Sendable {
    public var summary: EpochSummary
    /// Validation loss − the previous epoch's (0 at the first boundary).
    public var lossDelta: Double
    public var bestValidationLoss: Double
    /// Epochs since the best validation loss last improved by `plateau_delta`.
    public var epochsSinceImprovement: Int
    public var kasmina: BoundaryReport
    public var settings: SeedSettings
    public var conservative: Bool
    /// Per slot name, the blueprints that may be grafted there now (width and artifact match,
    /// not quarantined; only SAFE ones in conservative mode), in preference order.
    public var candidates: [String: [BlueprintInfo]]
    /// Per slot name and blueprint id, the parameters grafting it there would add, when known
    /// before the graft (widening seeds: from the host's shape); the blueprint head's metadata.
    public var candidateParameters: [String: [String: Int]] = [:]
    /// Culls per blueprint in this run so far.
    public var failures: [String: Int]
    /// Trial outcomes per growth family in this run so far (`BlueprintInfo.family`).
    public var families: [String: FamilyRecord] = [:]
    public var hostParameters: Int
    public var learningRate: Float

    public var epoch: Int { summary.epoch }
    public var plateaued: Bool { epochsSinceImprovement >= settings.plateauEpochs }

    /// Slots a seed may germinate in now.
    public var openSlots: [SlotStatus] {
        kasmina.slots.filter { $0.isOpen(at: epoch + 1) && !(candidates[$0.name]?.isEmpty ?? true) }
    }

    /// Whether another germination is allowed by the run's budgets.
    public var mayGerminate: Bool {
        kasmina.seeds.count < settings.maxActiveSeeds && kasmina.germinations < settings.maxGerminations
            && epoch + 1 >= settings.warmupEpochs
    }

    /// The features of the policy network (TamiyoNetwork's one encoding).
    public var featureSnapshot: PolicyFeatures.Snapshot {
        var s = PolicyFeatures.Snapshot()
        s.validationLoss = summary.validationLoss
        s.validationAccuracy = summary.validationAccuracy
        s.trainLoss = summary.trainLoss
        s.trainAccuracy = summary.trainAccuracy
        s.lossDelta = lossDelta
        s.gradientNorm = summary.gradientNorm
        s.epoch = summary.epoch
        s.epochs = summary.epochs
        s.plateauRatio = Double(epochsSinceImprovement) / Double(max(1, settings.plateauEpochs))
        s.gapToBest = summary.validationLoss - bestValidationLoss
        s.liveSeeds = kasmina.seeds.count
        s.seedParameters = kasmina.seedParameters
        s.hostParameters = hostParameters
        s.germinations = kasmina.germinations
        s.maxGerminations = settings.maxGerminations
        s.conservative = conservative
        s.openSlots = openSlots.count
        s.slots = kasmina.slots.count
        s.fossils = kasmina.slots.reduce(0) { $0 + $1.fossils }
        s.learningRate = Double(learningRate)
        if let seed = kasmina.seeds.first {
            var live = PolicyFeatures.Snapshot.Live()
            live.alpha = Double(seed.alpha)
            live.epochsInStage = seed.epochsInStage
            live.shadowAdvantage = seed.measurements.shadowLoss.map { summary.trainLoss - $0 } ?? 0
            live.ablationGain = seed.measurements.ablationValidationLoss.map { $0 - summary.validationLoss } ?? 0
            live.violations = seed.violations
            live.gradientNorm = seed.measurements.gradientNorm
            live.drift = seed.measurements.drift
            live.rampComplete = seed.rampComplete
            live.paused = seed.paused
            live.lossVsBaseline = summary.validationLoss - seed.baseline.validationLoss
            s.live = live
        }
        return s
    }
}

/// What a policy wants this epoch (before the risk engine).
public enum PolicyProposal: Sendable, Equatable {
    case wait
    case germinate(slot: String, blueprint: String)
    case transition(seedId: String, to: SeedLifecycleStage)
    case cull(seedId: String, reason: String)
    /// Host learning rates × (1 + delta).
    case optimizer(lrDelta: Float)
    case pause(seedId: String?, reason: String)
}

/// A decision with what explains it (annotations of the command, field reports for Simic).
public struct PolicyDecision: Sendable {
    public var proposal: PolicyProposal
    public var action: PolicyAction
    /// The network's raw action logits (the learned policy only).
    public var logits: [Float]?
    public var param: Float
    public var rationale: String

    public init(_ proposal: PolicyProposal, action: PolicyAction, logits: [Float]? = nil, param: Float = 0, rationale: String) {
        self.proposal = proposal
        self.action = action
        self.logits = logits
        self.param = param
        self.rationale = rationale
    }
}

/// The one interface both policies implement.
public protocol TamiyoPolicy: AnyObject {
    var name: String { get }
    var version: String { get }
    func decide(_ observation: PolicyObservation) -> PolicyDecision
}

/// The stage a seed moves to when a policy "advances" it (the paper's order: train, blend,
/// stabilise, evaluate, fossilise); nil when it cannot advance now.
public func nextStage(of seed: SeedSnapshot) -> SeedLifecycleStage? {
    switch seed.stage {
    case .training: .grafting
    case .grafting: seed.rampComplete ? .stabilizing : nil
    case .stabilizing: .evaluating
    case .evaluating: .fossilized
    case .fineTuning: .evaluating
    default: nil
    }
}
