public import Kernels

/// Where each tensor of `PolicyWeights.layout` starts in the flat parameter buffer, resolved
/// once from the layout so the passes index by offset, never by name.
public struct PolicyOffsets: Sendable, Equatable {
    public let stageEmbedding, blueprintEmbedding: Int
    public let trunk0Weight, trunk0Bias, trunk1Weight, trunk1Bias: Int
    public let actionWeight, actionBias, paramWeight, paramBias, valueWeight, valueBias: Int
    public let slotWeight, slotBias, slotScore: Int
    public let queryWeight, queryBias, metaWeight, metaBias: Int
    /// Floats of the whole network.
    public let count: Int

    public init(_ config: PolicyNetworkConfig) {
        var offsets: [String: Int] = [:]
        var offset = 0
        for tensor in PolicyWeights.layout(config) {
            offsets[tensor.name] = offset
            offset += tensor.count
        }
        func at(_ name: String) -> Int { offsets[name]! }
        stageEmbedding = at("stage_embedding")
        blueprintEmbedding = at("blueprint_embedding")
        trunk0Weight = at("trunk.0.weight")
        trunk0Bias = at("trunk.0.bias")
        trunk1Weight = at("trunk.1.weight")
        trunk1Bias = at("trunk.1.bias")
        actionWeight = at("action.weight")
        actionBias = at("action.bias")
        paramWeight = at("param.weight")
        paramBias = at("param.bias")
        valueWeight = at("value.weight")
        valueBias = at("value.bias")
        slotWeight = at("slot.weight")
        slotBias = at("slot.bias")
        slotScore = at("slot.score")
        queryWeight = at("blueprint.query.weight")
        queryBias = at("blueprint.query.bias")
        metaWeight = at("blueprint.meta.weight")
        metaBias = at("blueprint.meta.bias")
        count = offset
    }

    /// The weight matrix of a dense layer of the pass.
    public func weight(_ layer: PolicyDenseLayer) -> Int {
        switch layer {
        case .trunk0: trunk0Weight
        case .trunk1: trunk1Weight
        case .action: actionWeight
        case .value: valueWeight
        }
    }
}

/// The dense layers of the pass (trunk and the action and value heads), the ones a training
/// adapter may add to.
public enum PolicyDenseLayer: Int, CaseIterable, Sendable {
    case trunk0, trunk1, action, value

    /// The tensor-name prefix (`trunk.0.weight`, …).
    public var name: String {
        switch self {
        case .trunk0: "trunk.0"
        case .trunk1: "trunk.1"
        case .action: "action"
        case .value: "value"
        }
    }

    public func inputs(_ c: PolicyNetworkConfig) -> Int { self == .trunk0 ? c.inputDim : c.hiddenDim }

    public func outputs(_ c: PolicyNetworkConfig) -> Int {
        switch self {
        case .trunk0, .trunk1: c.hiddenDim
        case .action: PolicyAction.allCases.count
        case .value: 1
        }
    }
}

/// Something added beside a dense layer of the pass while training (Simic's LoRA adapters): it
/// adds to the layer's output right after its matrix product, and in the backward adds its
/// path's input gradient to the layer's.
public protocol PolicyLayerAdapter: AnyObject {
    func forward(_ layer: PolicyDenseLayer, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int)
    func backward(
        _ layer: PolicyDenseLayer, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>, rows: Int)
}

/// The one forward and backward of the policy network over a batch of rows: features ⊕ stage
/// embedding ⊕ blueprint embedding → two dense tanh layers → the action logits and the value,
/// over a flat parameter buffer in `PolicyWeights.layout` order. Tamiyo's inference runs it
/// over one row (`PolicyNetwork`), Simic's PPO over minibatches and back through it. Buffers
/// for `capacity` rows are allocated once; one owner, one thread.
public final class PolicyPass {
    public let config: PolicyNetworkConfig
    public let offsets: PolicyOffsets
    public let capacity: Int
    /// Rows of the last forward.
    public private(set) var rows = 0
    /// The input rows [capacity, inputDim].
    public let input: UnsafeMutablePointer<Float>
    /// Pre-activations and activations of the trunk's layers [capacity, hiddenDim].
    public let z1, h1, z2, h2: UnsafeMutablePointer<Float>
    /// The action head's raw logits [capacity, actions] and the value head's output [capacity].
    public let logits, values: UnsafeMutablePointer<Float>
    /// Each row's embedding rows (for the backward's scatter into the embedding tables).
    private var stages, blueprints: [Int]

    public static let actions = PolicyAction.allCases.count

    public init(config: PolicyNetworkConfig, capacity: Int) {
        precondition(capacity >= 1)
        self.config = config
        offsets = PolicyOffsets(config)
        self.capacity = capacity
        input = .allocate(capacity: capacity * config.inputDim)
        z1 = .allocate(capacity: capacity * config.hiddenDim)
        h1 = .allocate(capacity: capacity * config.hiddenDim)
        z2 = .allocate(capacity: capacity * config.hiddenDim)
        h2 = .allocate(capacity: capacity * config.hiddenDim)
        logits = .allocate(capacity: capacity * PolicyPass.actions)
        values = .allocate(capacity: capacity)
        stages = [Int](repeating: 0, count: capacity)
        blueprints = stages
    }

    deinit {
        for buffer in [input, z1, h1, z2, h2, logits, values] { buffer.deallocate() }
    }

    /// Input row `row`: the features (non-finite ones read as 0) ⊕ the embedding rows of
    /// `stage` and `blueprint`, each clamped to its vocabulary.
    public func setRow(_ row: Int, features: [Float], stage: Int, blueprint: Int, parameters: UnsafePointer<Float>) {
        let c = config, e = c.embeddingDim
        precondition(row >= 0 && row < capacity)
        precondition(features.count == c.featureDim, "expected \(c.featureDim) features")
        let stage = min(max(stage, 0), c.stageVocab - 1), blueprint = min(max(blueprint, 0), c.blueprintVocab - 1)
        let x = input + row * c.inputDim
        for i in 0..<c.featureDim { x[i] = features[i].isFinite ? features[i] : 0 }
        (x + c.featureDim).update(from: parameters + offsets.stageEmbedding + stage * e, count: e)
        (x + c.featureDim + e).update(from: parameters + offsets.blueprintEmbedding + blueprint * e, count: e)
        stages[row] = stage
        blueprints[row] = blueprint
    }

    /// Over the first `rows` input rows: z1 = x W0ᵀ, h1 = tanh(z1 + b0), z2 = h1 W1ᵀ,
    /// h2 = tanh(z2 + b1), logits = h2 Waᵀ + ba, values = h2 Wvᵀ + bv (an adapter adds to each
    /// product before its bias and activation are applied).
    public func forward(rows: Int, parameters p: UnsafePointer<Float>, adapter: (any PolicyLayerAdapter)? = nil) throws(KernelError) {
        precondition(rows >= 1 && rows <= capacity)
        self.rows = rows
        let o = offsets, inDim = config.inputDim, h = config.hiddenDim, a = PolicyPass.actions
        try Kernels.linearForward(out: z1, input: input, weights: p + o.trunk0Weight, bias: nil, batch: rows, inputs: inDim, outputs: h)
        adapter?.forward(.trunk0, input: input, output: z1, rows: rows)
        try Kernels.biasActivationForward(.tanh, y: h1, z: z1, bias: p + o.trunk0Bias, batch: rows, width: h)
        try Kernels.linearForward(out: z2, input: h1, weights: p + o.trunk1Weight, bias: nil, batch: rows, inputs: h, outputs: h)
        adapter?.forward(.trunk1, input: h1, output: z2, rows: rows)
        try Kernels.biasActivationForward(.tanh, y: h2, z: z2, bias: p + o.trunk1Bias, batch: rows, width: h)
        try Kernels.linearForward(
            out: logits, input: h2, weights: p + o.actionWeight, bias: p + o.actionBias, batch: rows, inputs: h, outputs: a)
        adapter?.forward(.action, input: h2, output: logits, rows: rows)
        try Kernels.linearForward(
            out: values, input: h2, weights: p + o.valueWeight, bias: p + o.valueBias, batch: rows, inputs: h, outputs: 1)
        adapter?.forward(.value, input: h2, output: values, rows: rows)
    }

    /// After `forward`: accumulates into `gradients` (same layout as the parameters) the
    /// gradient flowing back from logitsGradient [rows, actions] and valuesGradient [rows],
    /// plus `hiddenGradient` [rows, hiddenDim] on the trunk's output (the slot and blueprint
    /// heads', `PolicyChoiceHeads.backward`), down to the embedding rows the inputs used.
    public func backward(
        logitsGradient: UnsafePointer<Float>, valuesGradient: UnsafePointer<Float>, parameters p: UnsafePointer<Float>,
        gradients g: UnsafeMutablePointer<Float>, adapter: (any PolicyLayerAdapter)? = nil,
        hiddenGradient: UnsafePointer<Float>? = nil
    ) throws(KernelError) {
        let c = config, n = rows, o = offsets, inDim = c.inputDim, e = c.embeddingDim, h = c.hiddenDim, a = PolicyPass.actions
        let dh2 = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let dh2v = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let dz = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let dh1 = UnsafeMutablePointer<Float>.allocate(capacity: n * h)
        let dx = UnsafeMutablePointer<Float>.allocate(capacity: n * inDim)
        defer { for buffer in [dh2, dh2v, dz, dh1, dx] { buffer.deallocate() } }
        try Kernels.linearBackward(
            inputGradient: dh2, weightGradient: g + o.actionWeight, biasGradient: g + o.actionBias, outputGradient: logitsGradient,
            input: h2, weights: p + o.actionWeight, batch: n, inputs: h, outputs: a)
        adapter?.backward(.action, input: h2, outputGradient: logitsGradient, inputGradient: dh2, rows: n)
        try Kernels.linearBackward(
            inputGradient: dh2v, weightGradient: g + o.valueWeight, biasGradient: g + o.valueBias, outputGradient: valuesGradient,
            input: h2, weights: p + o.valueWeight, batch: n, inputs: h, outputs: 1)
        adapter?.backward(.value, input: h2, outputGradient: valuesGradient, inputGradient: dh2v, rows: n)
        for i in 0..<(n * h) { dh2[i] += dh2v[i] }
        if let hiddenGradient { for i in 0..<(n * h) { dh2[i] += hiddenGradient[i] } }
        try Kernels.biasActivationBackward(.tanh, dz: dz, biasGradient: g + o.trunk1Bias, dy: dh2, z: z2, y: h2, batch: n, width: h)
        try Kernels.linearBackward(
            inputGradient: dh1, weightGradient: g + o.trunk1Weight, biasGradient: nil, outputGradient: dz, input: h1,
            weights: p + o.trunk1Weight, batch: n, inputs: h, outputs: h)
        adapter?.backward(.trunk1, input: h1, outputGradient: dz, inputGradient: dh1, rows: n)
        try Kernels.biasActivationBackward(.tanh, dz: dz, biasGradient: g + o.trunk0Bias, dy: dh1, z: z1, y: h1, batch: n, width: h)
        try Kernels.linearBackward(
            inputGradient: dx, weightGradient: g + o.trunk0Weight, biasGradient: nil, outputGradient: dz, input: input,
            weights: p + o.trunk0Weight, batch: n, inputs: inDim, outputs: h)
        adapter?.backward(.trunk0, input: input, outputGradient: dz, inputGradient: dx, rows: n)
        let stage = g + o.stageEmbedding, blueprint = g + o.blueprintEmbedding
        for r in 0..<n {
            let row = dx + r * inDim + c.featureDim
            let s = stage + stages[r] * e, bp = blueprint + blueprints[r] * e
            for k in 0..<e {
                s[k] += row[k]
                bp[k] += row[e + k]
            }
        }
    }
}
