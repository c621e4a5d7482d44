// TamiyoNetwork: the one definition of Tamiyo's policy network — its shape, its named
// tensors and their binary weight format, its feature encoding and its inference over the C
// kernels. Tamiyo runs it at every epoch boundary; Simic trains it and publishes weights in
// the same format (a mismatch in name or shape is refused, never loaded "non-strictly").
internal import CKernels

/// Sizes of the network (03-tamiyo §2 and 04-simic §3, reconciled; "beyond the reference":
/// location and blueprint heads over what exists instead of hard-coded ids).
public struct PolicyNetworkConfig: Sendable, Equatable, Codable {
    public var featureDim = 32
    public var embeddingDim = 16
    public var hiddenDim = 64
    /// Rows of the blueprint embedding (stable FNV-1a of the id, mod this; row 0 = none).
    public var blueprintVocab = 1024
    /// Rows of the stage embedding: the 10 Leyline stages + "no live seed".
    public var stageVocab = 11
    public var slotFeatureDim = 8
    public var blueprintFeatureDim = 6
    /// Width of the slot scorer's hidden layer.
    public var slotHiddenDim = 16

    public init() {}

    /// Input of the trunk: features ⊕ stage embedding ⊕ blueprint embedding.
    public var inputDim: Int { featureDim + 2 * embeddingDim }
}

/// What the policy may do at a boundary (the action head's classes, in order).
public enum PolicyAction: Int, Sendable, CaseIterable, Codable {
    /// No command this epoch.
    case wait = 0
    /// Graft a seed: the slot head picks where, the blueprint head what.
    case germinate = 1
    /// Move the live seed to its next stage (train → graft → stabilise → evaluate → fossilise).
    case advance = 2
    case cull = 3
    /// Scale the host learning rate by (1 + 0.5 · param).
    case optimizer = 4
    case pause = 5

    public var name: String {
        switch self {
        case .wait: "wait"
        case .germinate: "germinate"
        case .advance: "advance"
        case .cull: "cull"
        case .optimizer: "optimizer"
        case .pause: "pause"
        }
    }
}

/// One decision's input: the global features, the live seed's stage and blueprint, the slots
/// and the candidate blueprints that exist right now.
public struct PolicyInput: Sendable, Equatable {
    public var features: [Float]
    /// 0 = no live seed, else 1 + Leyline stage number.
    public var stageIndex: Int
    /// Embedding row of the live seed's blueprint (0 = none).
    public var blueprintIndex: Int
    /// `slotFeatureDim` floats per slot.
    public var slots: [[Float]]
    /// Per candidate: embedding row and `blueprintFeatureDim` metadata floats.
    public var blueprints: [(index: Int, features: [Float])]

    public init(features: [Float], stageIndex: Int, blueprintIndex: Int, slots: [[Float]], blueprints: [(index: Int, features: [Float])]) {
        self.features = features
        self.stageIndex = stageIndex
        self.blueprintIndex = blueprintIndex
        self.slots = slots
        self.blueprints = blueprints
    }

    public static func == (a: PolicyInput, b: PolicyInput) -> Bool {
        a.features == b.features && a.stageIndex == b.stageIndex && a.blueprintIndex == b.blueprintIndex && a.slots == b.slots
            && a.blueprints.map(\.index) == b.blueprints.map(\.index) && a.blueprints.map(\.features) == b.blueprints.map(\.features)
    }
}

/// The heads' outputs for one input (raw: masking to valid choices is the caller's).
public struct PolicyOutput: Sendable, Equatable {
    public var actionLogits: [Float]
    /// tanh-bounded, in (−1, 1).
    public var param: Float
    /// The critic's estimate (Simic's value head; unused at inference).
    public var value: Float
    public var slotScores: [Float]
    public var blueprintScores: [Float]
}

/// Inference with fixed weights over the C kernels (dense + tanh), no dropout, deterministic.
/// Buffers are allocated once; one instance per thread (a run's controller owns its own).
public final class PolicyNetwork {
    public let weights: PolicyWeights
    private let input: UnsafeMutablePointer<Float>
    private let hidden: UnsafeMutablePointer<Float>
    private let context: UnsafeMutablePointer<Float>
    private let heads: UnsafeMutablePointer<Float>
    /// Pre-activations of a tanh layer (the C activation kernels do not work in place).
    private let scratch: UnsafeMutablePointer<Float>

    public init(weights: PolicyWeights) {
        self.weights = weights
        let config = weights.config
        input = .allocate(capacity: config.inputDim)
        hidden = .allocate(capacity: config.hiddenDim)
        context = .allocate(capacity: config.hiddenDim + config.slotFeatureDim)
        heads = .allocate(capacity: 16)
        scratch = .allocate(capacity: max(config.hiddenDim, config.slotHiddenDim, config.embeddingDim, 16))
    }

    deinit {
        input.deallocate()
        hidden.deallocate()
        context.deallocate()
        heads.deallocate()
        scratch.deallocate()
    }

    public var config: PolicyNetworkConfig { weights.config }

    public func evaluate(_ x: PolicyInput) -> PolicyOutput {
        let c = config
        precondition(x.features.count == c.featureDim, "expected \(c.featureDim) features")
        weights.withTensors { t in
            // x = features ⊕ stage embedding ⊕ blueprint embedding
            for i in 0..<c.featureDim { input[i] = x.features[i].isFinite ? x.features[i] : 0 }
            let stage = min(max(x.stageIndex, 0), c.stageVocab - 1)
            let blueprint = min(max(x.blueprintIndex, 0), c.blueprintVocab - 1)
            (input + c.featureDim).update(from: t["stage_embedding"] + stage * c.embeddingDim, count: c.embeddingDim)
            (input + c.featureDim + c.embeddingDim).update(
                from: t["blueprint_embedding"] + blueprint * c.embeddingDim, count: c.embeddingDim)
            dense(hidden, input, t["trunk.0.weight"], t["trunk.0.bias"], rows: 1, inputs: c.inputDim, outputs: c.hiddenDim, tanh: true)
            dense(context, hidden, t["trunk.1.weight"], t["trunk.1.bias"], rows: 1, inputs: c.hiddenDim, outputs: c.hiddenDim, tanh: true)
        }
        return weights.withTensors { t in
            let actions = PolicyAction.allCases.count
            dense(heads, context, t["action.weight"], t["action.bias"], rows: 1, inputs: c.hiddenDim, outputs: actions, tanh: false)
            let logits = Array(UnsafeBufferPointer(start: heads, count: actions))
            dense(heads, context, t["param.weight"], t["param.bias"], rows: 1, inputs: c.hiddenDim, outputs: 1, tanh: true)
            let param = heads[0]
            dense(heads, context, t["value.weight"], t["value.bias"], rows: 1, inputs: c.hiddenDim, outputs: 1, tanh: false)
            let value = heads[0]
            return PolicyOutput(
                actionLogits: logits, param: param, value: value, slotScores: slotScores(x, t),
                blueprintScores: blueprintScores(x, t))
        }
    }

    /// score_i = v · tanh(W [c ⊕ f_i] + b)
    private func slotScores(_ x: PolicyInput, _ t: PolicyWeights.Tensors) -> [Float] {
        let c = config
        var scores: [Float] = []
        var u = [Float](repeating: 0, count: c.slotHiddenDim)
        for slot in x.slots {
            precondition(slot.count == c.slotFeatureDim, "expected \(c.slotFeatureDim) slot features")
            for (j, v) in slot.enumerated() { context[c.hiddenDim + j] = v.isFinite ? v : 0 }
            u.withUnsafeMutableBufferPointer { buffer in
                dense(
                    buffer.baseAddress!, context, t["slot.weight"], t["slot.bias"], rows: 1, inputs: c.hiddenDim + c.slotFeatureDim,
                    outputs: c.slotHiddenDim, tanh: true)
            }
            let v = t["slot.score"]
            scores.append((0..<c.slotHiddenDim).reduce(Float(0)) { $0 + v[$1] * u[$1] })
        }
        return scores
    }

    /// score_b = (W_q c + b_q) · E[b] + w_m · m_b + b_m
    private func blueprintScores(_ x: PolicyInput, _ t: PolicyWeights.Tensors) -> [Float] {
        let c = config
        var query = [Float](repeating: 0, count: c.embeddingDim)
        query.withUnsafeMutableBufferPointer { buffer in
            dense(
                buffer.baseAddress!, context, t["blueprint.query.weight"], t["blueprint.query.bias"], rows: 1, inputs: c.hiddenDim,
                outputs: c.embeddingDim, tanh: false)
        }
        let embedding = t["blueprint_embedding"], meta = t["blueprint.meta.weight"], metaBias = t["blueprint.meta.bias"][0]
        return x.blueprints.map { candidate in
            precondition(candidate.features.count == c.blueprintFeatureDim, "expected \(c.blueprintFeatureDim) blueprint features")
            let row = embedding + min(max(candidate.index, 0), c.blueprintVocab - 1) * c.embeddingDim
            var score = metaBias
            for j in 0..<c.embeddingDim { score += query[j] * row[j] }
            for (j, v) in candidate.features.enumerated() { score += meta[j] * (v.isFinite ? v : 0) }
            return score
        }
    }

    /// out[rows, outputs] = act(in · Wᵀ + b)
    private func dense(
        _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        rows: Int, inputs: Int, outputs: Int, tanh: Bool
    ) {
        precondition(rows == 1, "the policy evaluates one row at a time")
        if tanh {
            var status = ck_linear_forward(scratch, x, w, nil, rows, inputs, outputs)
            if status == 0 { status = ck_bias_act_forward(CK_ACT_TANH, out, scratch, b, rows, outputs) }
            precondition(status == 0, "a policy layer failed with \(status) (a shape bug)")
        } else {
            let status = ck_linear_forward(out, x, w, b, rows, inputs, outputs)
            precondition(status == 0, "ck_linear_forward failed with \(status) (a shape bug)")
        }
    }
}

/// Index of the largest value among `allowed` positions (first on ties); nil when none is.
public func maskedArgmax(_ values: [Float], allowed: (Int) -> Bool) -> Int? {
    var best: Int?
    for (index, value) in values.enumerated() where allowed(index) {
        if let current = best, !(value > values[current]) { continue }
        best = index
    }
    return best
}
