/// One decision of Tamiyo's policy at an epoch boundary, as Simic needs it to learn from the
/// field report that closes the trajectory (extension of the contract, 04-simic §10 "beyond
/// the reference": build trajectories per (run, seed) ordered by epoch and carry the action
/// Tamiyo actually took). The numbers are the policy network's input (TamiyoNetwork's feature
/// encoding), the legal actions, the action taken and — when the network decided — its raw
/// logits, from which Simic derives the behaviour log-probability for PPO's ratio.
public struct PolicyStep: LeylineMessage {
    public var epoch: UInt32
    /// `PolicyAction` raw value (0 wait … 5 pause).
    public var action: UInt32
    /// Bit i set ⇔ action i was legal at this boundary.
    public var validActions: UInt32
    /// The global feature vector (TamiyoNetwork `PolicyFeatures.global`).
    public var features: [Float]
    /// Stage embedding row (0 = no live seed).
    public var stageIndex: UInt32
    /// Blueprint embedding row of the live seed (0 = none).
    public var blueprintIndex: UInt32
    /// The network's action logits when the learned policy decided; empty for the heuristic.
    public var logits: [Float]
    /// For a germination, what the slot and blueprint heads chose among (so Simic trains them
    /// too); empty/0 otherwise and in reports recorded before they existed (then omitted).
    /// The slots' features, `slotFeatureDim` floats per slot, in slot order.
    public var slotFeatures: [Float] = []
    /// Bit i set ⇔ slot i was open with a candidate.
    public var openSlots: UInt32 = 0
    /// 1 + the index of the slot chosen (0 = none).
    public var chosenSlot: UInt32 = 0
    /// Per candidate blueprint: its embedding row, its slot's index and its metadata
    /// (`blueprintFeatureDim` floats each, flattened).
    public var candidateIndices: [UInt32] = []
    public var candidateSlots: [UInt32] = []
    public var candidateFeatures: [Float] = []
    /// 1 + the index of the candidate chosen (0 = none).
    public var chosenCandidate: UInt32 = 0

    public init(
        epoch: UInt32 = 0, action: UInt32 = 0, validActions: UInt32 = 0, features: [Float] = [], stageIndex: UInt32 = 0,
        blueprintIndex: UInt32 = 0, logits: [Float] = []
    ) {
        self.epoch = epoch
        self.action = action
        self.validActions = validActions
        self.features = features
        self.stageIndex = stageIndex
        self.blueprintIndex = blueprintIndex
        self.logits = logits
    }

    /// At most this many features / logits per step (the network's input is 32 wide).
    public static let maxFeatures = 256
    public static let maxActions = 32
    /// At most this many slots and candidate blueprints per step.
    public static let maxSlots = 32
    public static let maxCandidates = 128

    public static let fields = LeylineFields(
        PolicyStep(),
        [
            .field("epoch", \.epoch),
            .field(
                "action", \.action,
                .that { action, field, v in
                    if action >= UInt32(PolicyStep.maxActions) { v.fail(field, "must be below \(PolicyStep.maxActions)") }
                }),
            .field("valid_actions", \.validActions),
            .field("features", \.features, PolicyStep.finiteValues(atMost: PolicyStep.maxFeatures)),
            .field("stage_index", \.stageIndex),
            .field("blueprint_index", \.blueprintIndex),
            .field("logits", \.logits, PolicyStep.finiteValues(atMost: PolicyStep.maxActions)),
            .field(
                "slot_features", \.slotFeatures, PolicyStep.finiteValues(atMost: PolicyStep.maxFeatures), omitWhen: \.isEmpty),
            .field("open_slots", \.openSlots, omitWhen: { $0 == 0 }),
            .field("chosen_slot", \.chosenSlot, PolicyStep.atMost(PolicyStep.maxSlots), omitWhen: { $0 == 0 }),
            .field(
                "candidate_indices", \.candidateIndices,
                .that { values, field, v in
                    if values.count > PolicyStep.maxCandidates { v.fail(field, "at most \(PolicyStep.maxCandidates) values") }
                }, omitWhen: \.isEmpty),
            .field(
                "candidate_slots", \.candidateSlots,
                .that { values, field, v in
                    if values.count > PolicyStep.maxCandidates { v.fail(field, "at most \(PolicyStep.maxCandidates) values") }
                    if values.contains(where: { $0 >= UInt32(PolicyStep.maxSlots) }) {
                        v.fail(field, "slot indices below \(PolicyStep.maxSlots)")
                    }
                }, omitWhen: \.isEmpty),
            .field(
                "candidate_features", \.candidateFeatures, PolicyStep.finiteValues(atMost: 16 * PolicyStep.maxCandidates),
                omitWhen: \.isEmpty),
            .field("chosen_candidate", \.chosenCandidate, PolicyStep.atMost(PolicyStep.maxCandidates), omitWhen: { $0 == 0 }),
        ])

    /// A 1-based choice among at most `limit` (0 = none).
    static func atMost(_ limit: Int) -> LeylineRule<UInt32> {
        .that { value, field, v in
            if value > UInt32(limit) { v.fail(field, "at most \(limit)") }
        }
    }

    /// At most `limit` values, each finite (named by index: `features[3]`).
    static func finiteValues(atMost limit: Int) -> LeylineRule<[Float]> {
        .that { values, field, v in
            if values.count > limit { v.fail(field, "at most \(limit) values") }
            for (index, value) in values.enumerated() where !value.isFinite { v.fail("\(field)[\(index)]", "must be finite") }
        }
    }
}
