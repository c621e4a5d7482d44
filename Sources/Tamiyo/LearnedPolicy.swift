import Leyline
public import TamiyoNetwork

/// The policy network (TamiyoNetwork) as a policy: inference over the C kernels, no dropout,
/// argmax over what is valid right now — the action head masked to legal actions, the slot
/// head over open slots, the blueprint head over the blueprints usable in the chosen slot:
/// slot kernels of its width and widening seeds that fit the `parameter_budget` (whose
/// metadata carries the parameters each would add, so the head can weigh size).
/// Its weights are the ones Simic trains (same definition, same file format).
public final class LearnedPolicy: TamiyoPolicy {
    public let name = "learned"
    private(set) var network: PolicyNetwork
    /// The service's weight generation these weights came from; nil for fixed weights (a
    /// test's or a benchmark's), which are never swapped.
    public private(set) var generation: Int?

    public init(weights: PolicyWeights, generation: Int? = nil) {
        network = PolicyNetwork(weights: weights)
        self.generation = generation
    }

    public var version: String { network.weights.policyVersion }

    /// Swaps the weights (the controller calls this at an epoch boundary only, on the run's
    /// thread, before the decision — never while a decision is being made).
    func load(_ weights: PolicyWeights, generation: Int) {
        network = PolicyNetwork(weights: weights)
        self.generation = generation
    }

    /// Which actions are legal now (bit i ⇔ `PolicyAction(rawValue: i)`), as the mask of the
    /// action head at inference and of the log-softmax Simic trains with.
    public static func validActions(_ o: PolicyObservation, candidates: [(slot: Int, info: BlueprintInfo)]) -> UInt32 {
        let live = o.kasmina.seeds.first
        let openSlots = o.kasmina.slots.enumerated().contains { index, slot in
            slot.isOpen(at: o.epoch + 1) && candidates.contains { $0.slot == index }
        }
        var mask: UInt32 = 0
        for action in PolicyAction.allCases {
            let valid: Bool
            switch action {
            case .wait, .optimizer: valid = true
            case .germinate: valid = live == nil && o.mayGerminate && openSlots
            case .advance: valid = live.map { !$0.paused && nextStage(of: $0) != nil } ?? false
            case .cull, .pause: valid = live != nil
            }
            if valid { mask |= 1 << UInt32(action.rawValue) }
        }
        return mask
    }

    /// The network input for an observation (also what Simic would record).
    public static func input(_ o: PolicyObservation, config: PolicyNetworkConfig) -> (PolicyInput, [(slot: Int, info: BlueprintInfo)]) {
        let features = PolicyFeatures.global(o.featureSnapshot, dimension: config.featureDim)
        let live = o.kasmina.seeds.first
        let slots = o.kasmina.slots.enumerated().map { index, slot in
            PolicyFeatures.slot(
                width: slot.width, open: slot.isOpen(at: o.epoch + 1), embargoed: o.epoch + 1 < slot.embargoUntilEpoch,
                hasLiveSeed: slot.liveSeed != nil, fossils: slot.fossils, fossilParameters: slot.fossilParameters,
                position: index, slots: o.kasmina.slots.count, allowed: slot.allowed)
        }
        var candidates: [(slot: Int, info: BlueprintInfo)] = []
        for (index, slot) in o.kasmina.slots.enumerated() where slot.isOpen(at: o.epoch + 1) {
            for info in o.candidates[slot.name] ?? [] { candidates.append((index, info)) }
        }
        let blueprints = candidates.map { candidate in
            (
                index: PolicyFeatures.blueprintIndex(candidate.info.blueprintId, vocab: config.blueprintVocab),
                features: PolicyFeatures.blueprint(
                    risk: candidate.info.risk, tier: candidate.info.tier.name, stage: candidate.info.stage,
                    parameters: o.candidateParameters[o.kasmina.slots[candidate.slot].name]?[candidate.info.blueprintId] ?? 0,
                    family: LearnedPolicy.outcome(o.families[candidate.info.family]))
            )
        }
        let input = PolicyInput(
            features: features, stageIndex: live.map { 1 + Int($0.stage.rawValue) } ?? 0,
            blueprintIndex: live.map { PolicyFeatures.blueprintIndex($0.origin.requestedId, vocab: config.blueprintVocab) } ?? 0,
            slots: slots, blueprints: blueprints)
        return (input, candidates)
    }

    /// A family's record as the blueprint head's metadata reads it.
    static func outcome(_ record: FamilyRecord?) -> PolicyFeatures.FamilyOutcome {
        var outcome = PolicyFeatures.FamilyOutcome()
        guard let record else { return outcome }
        outcome.trials = record.trials
        outcome.fossilized = record.fossilized
        outcome.cullsSinceFossil = record.cullsSinceFossil
        outcome.meanGainPerKiloparameter = record.meanGainPerKiloparameter
        return outcome
    }

    /// For a germination, records in `step` the choice the slot and blueprint heads made among
    /// what was open (what Simic trains those heads on); other proposals leave it unchanged.
    static func recordChoice(
        _ proposal: PolicyProposal, _ o: PolicyObservation, input: PolicyInput, candidates: [(slot: Int, info: BlueprintInfo)],
        into step: inout PolicyStep
    ) {
        guard case .germinate(let slotName, let blueprint) = proposal,
            let slot = o.kasmina.slots.firstIndex(where: { $0.name == slotName }),
            let candidate = candidates.firstIndex(where: { $0.slot == slot && $0.info.blueprintId == blueprint }),
            input.slots.count <= PolicyStep.maxSlots, candidates.count <= PolicyStep.maxCandidates
        else { return }
        var open: UInt32 = 0
        for index in Set(candidates.map(\.slot)) { open |= 1 << UInt32(index) }
        step.slotFeatures = input.slots.flatMap { $0 }
        step.openSlots = open
        step.chosenSlot = UInt32(slot + 1)
        step.candidateIndices = input.blueprints.map { UInt32($0.index) }
        step.candidateSlots = candidates.map { UInt32($0.slot) }
        step.candidateFeatures = input.blueprints.flatMap(\.features)
        step.chosenCandidate = UInt32(candidate + 1)
    }

    public func decide(_ o: PolicyObservation) -> PolicyDecision {
        let (input, candidates) = LearnedPolicy.input(o, config: network.config)
        let out = network.evaluate(input)
        let live = o.kasmina.seeds.first
        let openSlots = Set(
            o.kasmina.slots.enumerated().compactMap { index, slot in
                slot.isOpen(at: o.epoch + 1) && candidates.contains { $0.slot == index } ? index : nil
            })
        let mask = LearnedPolicy.validActions(o, candidates: candidates)
        let valid: (Int) -> Bool = { raw in raw >= 0 && raw < 32 && mask & (1 << UInt32(raw)) != 0 }
        let chosen = maskedArgmax(out.actionLogits, allowed: valid).flatMap(PolicyAction.init(rawValue:)) ?? .wait
        func decision(_ proposal: PolicyProposal, _ why: String) -> PolicyDecision {
            PolicyDecision(proposal, action: chosen, logits: out.actionLogits, param: out.param, rationale: why)
        }
        switch chosen {
        case .wait:
            return decision(.wait, "network: wait")
        case .germinate:
            guard let slotIndex = maskedArgmax(out.slotScores, allowed: { openSlots.contains($0) }) else {
                return decision(.wait, "no open slot")
            }
            guard let pick = maskedArgmax(out.blueprintScores, allowed: { candidates[$0].slot == slotIndex }) else {
                return decision(.wait, "no blueprint for the slot")
            }
            let slot = o.kasmina.slots[slotIndex].name
            return decision(
                .germinate(slot: slot, blueprint: candidates[pick].info.blueprintId),
                "network: germinate \(candidates[pick].info.blueprintId) in \(slot)")
        case .advance:
            guard let live, let next = nextStage(of: live) else { return decision(.wait, "nothing to advance") }
            return decision(.transition(seedId: live.seedId, to: next), "network: advance \(live.seedId) to \(next.name)")
        case .cull:
            guard let live else { return decision(.wait, "nothing to cull") }
            return decision(.cull(seedId: live.seedId, reason: "policy"), "network: cull \(live.seedId)")
        case .optimizer:
            return decision(.optimizer(lrDelta: 0.5 * out.param), "network: learning rate × \(1 + 0.5 * out.param)")
        case .pause:
            return decision(.pause(seedId: live?.seedId, reason: "policy"), "network: pause")
        }
    }
}
