import Kasmina
import Leyline
import Tolaria

/// The rule-based policy: grow when the run has stalled, walk the seed through its gates,
/// cull on regression. One live seed at a time by default, so every change is attributable.
///
/// - Germinate when the validation loss has not improved for `plateau_epochs` (after the
///   warm-up): the open slot with the fewest fossils (then the lowest layer); among the
///   slot's candidates, the growth family this run's trials favour (`GrowthLedger.rank`:
///   untried families get a trial graft, then the family whose kept seeds are worth most
///   themselves — ablation gain per doubling of the network —, families whose trials were
///   culled last); within it the
///   blueprint that has failed least in this run (then the preference order).
/// - TRAINING (gate G1): the seed's shadow loss must beat the host's own training loss on the
///   same batches after `min_training_epochs`, with a healthy gradient norm; otherwise it is
///   culled after `max_training_epochs`.
/// - GRAFTING (G2): the α ramp completes without the validation loss regressing by more than
///   max(0.05, 10 %) over the pre-graft baseline, then STABILIZING.
/// - STABILIZING for `stabilization_epochs`, then EVALUATING for `evaluation_epochs`.
/// - EVALUATING (G4): fossilise when the validation loss beats the pre-graft baseline by
///   `improvement_threshold` AND the ablation (same validation set, seed bypassed) shows the
///   seed itself is worth at least that much; otherwise cull.
public final class HeuristicPolicy: TamiyoPolicy {
    public let name = "heuristic"
    public let version = "heuristic-2"
    /// Seed gradient norms above this are unhealthy (an exploding kernel), per step, pre-clip.
    static let gradientNormCeiling = 1e3

    public init() {}

    public func decide(_ o: PolicyObservation) -> PolicyDecision {
        let s = o.settings
        if let seed = o.kasmina.seeds.first {
            return judge(seed, o, s)
        }
        guard o.mayGerminate else { return PolicyDecision(.wait, action: .wait, rationale: "no germination allowed now") }
        guard o.plateaued else {
            return PolicyDecision(.wait, action: .wait, rationale: "improving (\(o.epochsSinceImprovement) epochs since the best)")
        }
        let slots = o.openSlots.sorted { ($0.fossils, $0.layer) < ($1.fossils, $1.layer) }
        guard let slot = slots.first, let candidates = o.candidates[slot.name], !candidates.isEmpty else {
            return PolicyDecision(.wait, action: .wait, rationale: "plateau, but no open slot with a usable blueprint")
        }
        var families: [String] = []
        for info in candidates where !families.contains(info.family) { families.append(info.family) }
        let family = GrowthLedger.rank(families, by: o.families)[0]
        let ranked = candidates.enumerated().filter { $0.element.family == family }.sorted {
            (o.failures[$0.element.blueprintId] ?? 0, $0.offset) < (o.failures[$1.element.blueprintId] ?? 0, $1.offset)
        }
        let blueprint = ranked[0].element.blueprintId
        var rationale = "plateau for \(o.epochsSinceImprovement) epochs: \(blueprint) in \(slot.name)"
        if families.count > 1 {
            rationale += " (family \(family); " + families.map { GrowthLedger.describe($0, o.families[$0]) }.joined(separator: "; ") + ")"
        }
        return PolicyDecision(.germinate(slot: slot.name, blueprint: blueprint), action: .germinate, rationale: rationale)
    }

    private func judge(_ seed: SeedSnapshot, _ o: PolicyObservation, _ s: SeedSettings) -> PolicyDecision {
        let id = seed.seedId
        let m = seed.measurements
        func advance(_ to: SeedLifecycleStage, _ why: String) -> PolicyDecision {
            PolicyDecision(.transition(seedId: id, to: to), action: .advance, rationale: why)
        }
        func cull(_ reason: String, _ why: String) -> PolicyDecision {
            PolicyDecision(.cull(seedId: id, reason: reason), action: .cull, rationale: why)
        }
        if seed.paused { return PolicyDecision(.wait, action: .wait, rationale: "\(id) is paused") }
        if seed.parameters == 0 { return cull("no_capacity", "\(id) got a parameter-free kernel (\(seed.origin.kernelId))") }
        if m.gradientNorm > HeuristicPolicy.gradientNormCeiling || !m.gradientNorm.isFinite {
            return cull("gradient_unhealthy", "\(id) gradient norm \(m.gradientNorm)")
        }
        let regression = max(0.05, 0.1 * abs(seed.baseline.validationLoss))
        switch seed.stage {
        case .training:
            let advantage = m.shadowLoss.map { o.summary.trainLoss - $0 } ?? 0
            if seed.epochsInStage >= s.minTrainingEpochs && advantage > 0 {
                return advance(.grafting, "G1: shadow loss beats the host's by \(advantage)")
            }
            if seed.epochsInStage >= s.maxTrainingEpochs {
                return cull("no_local_improvement", "G1 failed: shadow advantage \(advantage) after \(seed.epochsInStage) epochs")
            }
            return PolicyDecision(.wait, action: .wait, rationale: "\(id) training (advantage \(advantage))")
        case .grafting:
            if o.summary.validationLoss > seed.baseline.validationLoss + regression {
                return cull(
                    "regression", "G2: validation loss \(o.summary.validationLoss) vs \(seed.baseline.validationLoss) before the graft")
            }
            if seed.rampComplete { return advance(.stabilizing, "ramp complete (α = 1)") }
            return PolicyDecision(.wait, action: .wait, rationale: "\(id) grafting (α = \(seed.alpha))")
        case .stabilizing:
            if seed.epochsInStage >= s.stabilizationEpochs { return advance(.evaluating, "stabilised") }
            return PolicyDecision(.wait, action: .wait, rationale: "\(id) stabilising")
        case .evaluating, .fineTuning:
            guard seed.epochsInStage >= s.evaluationEpochs else {
                return PolicyDecision(.wait, action: .wait, rationale: "\(id) being evaluated")
            }
            let improvement = seed.baseline.validationLoss - o.summary.validationLoss
            let ablationGain = m.ablationValidationLoss.map { $0 - o.summary.validationLoss } ?? 0
            if improvement >= s.improvementThreshold && ablationGain >= s.improvementThreshold {
                return advance(.fossilized, "G4: validation loss −\(improvement) since the graft, the seed is worth \(ablationGain)")
            }
            return cull("no_improvement", "G4 failed: improvement \(improvement), seed worth \(ablationGain)")
        default:
            return PolicyDecision(.wait, action: .wait, rationale: "\(id) in \(seed.stage.name)")
        }
    }
}
