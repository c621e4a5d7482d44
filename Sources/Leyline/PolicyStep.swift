/// One decision of Tamiyo's policy at an epoch boundary, as Simic needs it to learn from the
/// field report that closes the trajectory (extension of the contract, 04-simic §10 "beyond
/// the reference": build trajectories per (run, seed) ordered by epoch and carry the action
/// Tamiyo actually took). The numbers are the policy network's input (TamiyoNetwork's feature
/// encoding), the legal actions, the action taken and — when the network decided — its raw
/// logits, from which Simic derives the behaviour log-probability for PPO's ratio.
public struct PolicyStep: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey {
        case epoch, action, validActions = "valid_actions", features, stageIndex = "stage_index", blueprintIndex = "blueprint_index"
        case logits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        epoch = try c.field(.epoch, or: 0)
        action = try c.field(.action, or: 0)
        validActions = try c.field(.validActions, or: 0)
        features = try c.field(.features, or: [])
        stageIndex = try c.field(.stageIndex, or: 0)
        blueprintIndex = try c.field(.blueprintIndex, or: 0)
        logits = try c.field(.logits, or: [])
    }

    /// At most this many features / logits per step (the network's input is 32 wide).
    public static let maxFeatures = 256
    public static let maxActions = 32

    public func validate(_ v: inout LeylineValidator) {
        if action >= UInt32(PolicyStep.maxActions) { v.fail("action", "must be below \(PolicyStep.maxActions)") }
        if features.count > PolicyStep.maxFeatures { v.fail("features", "at most \(PolicyStep.maxFeatures) values") }
        if logits.count > PolicyStep.maxActions { v.fail("logits", "at most \(PolicyStep.maxActions) values") }
        for (index, value) in features.enumerated() where !value.isFinite { v.fail("features[\(index)]", "must be finite") }
        for (index, value) in logits.enumerated() where !value.isFinite { v.fail("logits[\(index)]", "must be finite") }
    }
}

extension PolicyStep: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "action", "blueprint_index", "epoch", "features", "logits", "stage_index", "valid_actions",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("action"); w.unsigned(action)
        w.key("blueprint_index"); w.unsigned(blueprintIndex)
        w.key("epoch"); w.unsigned(epoch)
        w.key("features"); w.floatArray(features)
        w.key("logits"); w.floatArray(logits)
        w.key("stage_index"); w.unsigned(stageIndex)
        w.key("valid_actions"); w.unsigned(validActions)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(PolicyStep.jsonFields, &cursor) {
            switch field {
            case 0: action = try r.uint32()
            case 1: blueprintIndex = try r.uint32()
            case 2: epoch = try r.uint32()
            case 3: features = try r.floatArray()
            case 4: logits = try r.floatArray()
            case 5: stageIndex = try r.uint32()
            case 6: validActions = try r.uint32()
            default: break
            }
        }
    }
}
