// TamiyoNetwork: the one definition of Tamiyo's policy network — its shape, its named
// tensors and their binary weight format, its feature encoding, and its one batched forward
// and backward over Kernels (PolicyPass). Tamiyo runs it at every epoch boundary; Simic trains
// it and publishes weights in the same format (a mismatch in name or shape is refused, never
// loaded "non-strictly").
import Kernels

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
    /// Metadata of a candidate: 6 of the blueprint, 4 of what the run measured of its family.
    public var blueprintFeatureDim = 10
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

/// Inference with fixed weights: the shared `PolicyPass` over one row (dense + tanh over the
/// C kernels), then the param head and the slot and blueprint scorers (`PolicyChoiceHeads`,
/// which Simic trains with the same definition); no dropout,
/// deterministic. Buffers are allocated once; one instance per thread (a run's controller owns
/// its own).
public final class PolicyNetwork {
    public let weights: PolicyWeights
    private let pass: PolicyPass
    /// The trunk's output ⊕ one slot's features (the slot scorer's input).
    private let context: UnsafeMutablePointer<Float>
    private let heads: UnsafeMutablePointer<Float>
    /// Pre-activations of a tanh layer (the C activation kernels do not work in place).
    private let scratch: UnsafeMutablePointer<Float>

    public init(weights: PolicyWeights) {
        self.weights = weights
        let config = weights.config
        pass = PolicyPass(config: config, capacity: 1)
        context = .allocate(capacity: config.hiddenDim + config.slotFeatureDim)
        heads = .allocate(capacity: 16)
        scratch = .allocate(capacity: max(config.hiddenDim, config.slotHiddenDim, config.embeddingDim, 16))
    }

    deinit {
        context.deallocate()
        heads.deallocate()
        scratch.deallocate()
    }

    public var config: PolicyNetworkConfig { weights.config }

    public func evaluate(_ x: PolicyInput) -> PolicyOutput {
        let c = config, o = pass.offsets
        return weights.values.withUnsafeBufferPointer { buffer in
            let p = buffer.baseAddress!
            pass.setRow(0, features: x.features, stage: x.stageIndex, blueprint: x.blueprintIndex, parameters: p)
            do {
                try pass.forward(rows: 1, parameters: p)
            } catch {
                preconditionFailure("the policy pass failed: \(error) (a shape bug)")
            }
            context.update(from: pass.h2, count: c.hiddenDim)
            let logits = Array(UnsafeBufferPointer(start: pass.logits, count: PolicyPass.actions))
            dense(heads, context, p + o.paramWeight, p + o.paramBias, inputs: c.hiddenDim, outputs: 1, tanh: true)
            let param = heads[0]
            return PolicyOutput(
                actionLogits: logits, param: param, value: pass.values[0],
                slotScores: PolicyChoiceHeads.slotScores(h2: pass.h2, slots: x.slots, config: c, offsets: o, parameters: p),
                blueprintScores: PolicyChoiceHeads.blueprintScores(
                    h2: pass.h2, blueprints: x.blueprints, config: c, offsets: o, parameters: p))
        }
    }

    /// out[1, outputs] = act(in · Wᵀ + b) for one row.
    private func dense(
        _ out: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
        inputs: Int, outputs: Int, tanh: Bool
    ) {
        do {
            if tanh {
                try Kernels.linearForward(out: scratch, input: x, weights: w, bias: nil, batch: 1, inputs: inputs, outputs: outputs)
                try Kernels.biasActivationForward(.tanh, y: out, z: scratch, bias: b, batch: 1, width: outputs)
            } else {
                try Kernels.linearForward(out: out, input: x, weights: w, bias: b, batch: 1, inputs: inputs, outputs: outputs)
            }
        } catch {
            preconditionFailure("a policy layer failed: \(error) (a shape bug)")
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
