public import Kernels

/// The shape of a host network.
public struct HostArchitecture: Sendable, Codable, Equatable {
    public var inputs: Int
    public var hiddenSizes: [Int]
    public var classes: Int
    public var activation: Activation
    public var initialisation: WeightInitialisation
    /// The conv1d layers of the input stage, in order, before the dense layers (nil or empty:
    /// an MLP; optional so architectures stored before conv hosts still decode).
    public var convolutions: [Conv1DLayerShape]?

    public init(
        inputs: Int, hiddenSizes: [Int], classes: Int, activation: Activation = .relu,
        initialisation: WeightInitialisation = .kaimingUniform, convolutions: [Conv1DLayerShape]? = nil
    ) {
        self.inputs = inputs
        self.hiddenSizes = hiddenSizes
        self.classes = classes
        self.activation = activation
        self.initialisation = initialisation
        self.convolutions = convolutions?.isEmpty == true ? nil : convolutions
    }

    /// The host a run's model spec declares over `inputs` features (conv layers resolved for
    /// that signal length; a spec that does not fit is refused at submission, see
    /// `ModelSpec.shapeProblems`).
    public init(model: ModelSpec, inputs: Int, classes: Int) {
        let resolved = model.resolvedLayers(inputs: inputs)
        self.init(
            inputs: inputs, hiddenSizes: resolved.hiddenSizes, classes: classes, activation: model.activation,
            initialisation: model.initialisation, convolutions: resolved.convolutions)
    }

    /// Floats per example entering the first dense layer: the flattened output of the last
    /// conv layer, or the inputs.
    public var denseInputs: Int { convolutions?.last?.outputWidth ?? inputs }

    /// Dense layer widths from the dense input to logits.
    public var widths: [Int] { [denseInputs] + hiddenSizes + [classes] }

    /// Floats of all conv parameters (first in the block).
    public var convolutionParameterCount: Int { (convolutions ?? []).reduce(0) { $0 + $1.parameterCount } }

    /// Floats of all weights and biases.
    public var parameterCount: Int {
        let w = widths
        return convolutionParameterCount + (0..<(w.count - 1)).reduce(0) { $0 + w[$1 + 1] * w[$1] + w[$1 + 1] }
    }
}

/// The host: an optional input stage of conv1d layers (`Conv1DLayer`), dense layers with
/// activations, a seed slot after every hidden layer, softmax cross-entropy on the logits.
/// All parameters live in one `ParameterBlock` (conv layers first); every
/// activation and gradient buffer is allocated once for the largest batch, so a training step
/// allocates nothing.
public final class HostMLP {
    public let architecture: HostArchitecture
    public let block: ParameterBlock
    /// One group per layer: `host.conv-0`, …, `host.layer-0`, …, `host.output`.
    public let hostGroups: [ParameterGroup]
    /// The input stage (conv layers), run before the dense layers.
    let inputStage: [any HostLayer]
    public private(set) var slots: [SeedSlot]
    public let maxBatch: Int
    /// ε of label smoothing in every training gradient (main and shadow passes); 0 = off.
    public var labelSmoothing: Float = 0

    let widths: [Int]
    let hiddenCount: Int
    /// Offsets of W_l and b_l in the block.
    let weightOffsets: [Int]
    let biasOffsets: [Int]
    // Per hidden layer l: pre-activation z, activation y, slot output, and their gradients.
    let z: [UnsafeMutablePointer<Float>]
    let y: [UnsafeMutablePointer<Float>]
    let slotOutput: [UnsafeMutablePointer<Float>]
    let dz: [UnsafeMutablePointer<Float>]
    let dy: [UnsafeMutablePointer<Float>]
    /// ∂L/∂(input of layer l+1), i.e. of the slot's output after hidden layer l.
    let dSlotOutput: [UnsafeMutablePointer<Float>]
    /// Input of each dense layer as the last forward saw it (x, or a slot's output).
    var layerInputs: [UnsafePointer<Float>]
    public let logits: UnsafeMutablePointer<Float>
    let probabilities: UnsafeMutablePointer<Float>
    let logitsGradient: UnsafeMutablePointer<Float>
    private var allocations: [UnsafeMutablePointer<Float>] = []
    /// Buffers of the shadow pass, allocated on its first use (most runs never need them).
    private var shadow: ShadowBuffers?
    private var shadowAllocations: [UnsafeMutablePointer<Float>] = []

    struct ShadowBuffers {
        let z: [UnsafeMutablePointer<Float>]
        let y: [UnsafeMutablePointer<Float>]
        let dz: [UnsafeMutablePointer<Float>]
        /// ∂L/∂(input of layer l+1), as `dSlotOutput`.
        let dInput: [UnsafeMutablePointer<Float>]
        let logits: UnsafeMutablePointer<Float>
        let probabilities: UnsafeMutablePointer<Float>
        let logitsGradient: UnsafeMutablePointer<Float>
        /// Where the weight and bias gradients of the fixed layers go (never read).
        let discardedWeights: UnsafeMutablePointer<Float>
    }

    public init(architecture: HostArchitecture, maxBatch: Int, learningRate: Float, seed: UInt64) {
        precondition(maxBatch > 0 && architecture.inputs > 0 && architecture.classes > 1)
        self.architecture = architecture
        self.maxBatch = maxBatch
        widths = architecture.widths
        hiddenCount = architecture.hiddenSizes.count
        block = ParameterBlock(count: architecture.parameterCount)

        var weightOffsets: [Int] = []
        var biasOffsets: [Int] = []
        var groups: [ParameterGroup] = []
        var offset = 0
        var stage: [any HostLayer] = []
        for (index, shape) in (architecture.convolutions ?? []).enumerated() {
            stage.append(Conv1DLayer(shape: shape, block: block, offset: offset, maxBatch: maxBatch))
            groups.append(
                ParameterGroup(
                    name: "host.conv-\(index)", block: block, offset: offset, count: shape.parameterCount, learningRate: learningRate))
            offset += shape.parameterCount
        }
        inputStage = stage
        for layer in 0...hiddenCount {
            let fanIn = widths[layer], fanOut = widths[layer + 1]
            weightOffsets.append(offset)
            biasOffsets.append(offset + fanIn * fanOut)
            let name = layer == hiddenCount ? "host.output" : "host.layer-\(layer)"
            let count = fanIn * fanOut + fanOut
            groups.append(ParameterGroup(name: name, block: block, offset: offset, count: count, learningRate: learningRate))
            offset += count
        }
        self.weightOffsets = weightOffsets
        self.biasOffsets = biasOffsets
        hostGroups = groups

        func buffer(_ count: Int, _ list: inout [UnsafeMutablePointer<Float>]) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            list.append(pointer)
            return pointer
        }
        var allocations: [UnsafeMutablePointer<Float>] = []
        let hidden = architecture.hiddenSizes
        z = hidden.map { buffer(maxBatch * $0, &allocations) }
        y = hidden.map { buffer(maxBatch * $0, &allocations) }
        slotOutput = hidden.map { buffer(maxBatch * $0, &allocations) }
        dz = hidden.map { buffer(maxBatch * $0, &allocations) }
        dy = hidden.map { buffer(maxBatch * $0, &allocations) }
        dSlotOutput = hidden.map { buffer(maxBatch * $0, &allocations) }
        logits = buffer(maxBatch * architecture.classes, &allocations)
        probabilities = buffer(maxBatch * architecture.classes, &allocations)
        logitsGradient = buffer(maxBatch * architecture.classes, &allocations)
        self.allocations = allocations
        layerInputs = Array(repeating: UnsafePointer(logits), count: hiddenCount + 1)
        slots = hidden.enumerated().map { SeedSlot(name: SeedSlot.name(forLayer: $0.offset), layer: $0.offset, width: $0.element) }

        initialise(seed: seed)
    }

    deinit {
        for pointer in allocations { pointer.deallocate() }
        for pointer in shadowAllocations { pointer.deallocate() }
    }

    /// Weights from the run seed (their own RNG stream); biases zero.
    func initialise(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: .initialisation)
        for case let conv as Conv1DLayer in inputStage {
            let shape = conv.shape
            rng.initialiseWeights(
                conv.weights, count: shape.weightCount, fanIn: shape.kernelSize * shape.inputChannels,
                fanOut: shape.kernelSize * shape.channels, scheme: architecture.initialisation)
            conv.bias.update(repeating: 0, count: shape.channels)
        }
        for layer in 0...hiddenCount {
            let fanIn = widths[layer], fanOut = widths[layer + 1]
            // The output layer feeds softmax, not an activation: Xavier keeps initial logits small.
            let scheme = layer == hiddenCount ? .xavierUniform : architecture.initialisation
            rng.initialiseWeights(block.values + weightOffsets[layer], count: fanIn * fanOut, fanIn: fanIn, fanOut: fanOut, scheme: scheme)
            (block.values + biasOffsets[layer]).update(repeating: 0, count: fanOut)
        }
    }

    /// Host groups and the groups of every grafted module, in a fixed order.
    public var parameterGroups: [ParameterGroup] {
        hostGroups + slots.flatMap { $0.module?.parameterGroups ?? [] }
    }

    /// The groups Tolaria's optimizer steps (and whose gradients its norm and clipping see):
    /// the host's and those of modules that do not step themselves.
    public var optimizedGroups: [ParameterGroup] {
        hostGroups
            + slots.flatMap { slot -> [ParameterGroup] in
                guard let module = slot.module, !(module is any SelfSteppingSeedModule) else { return [] }
                return module.parameterGroups
            }
    }

    /// Modules that step their own parameters after the host's step.
    public var selfSteppingModules: [any SelfSteppingSeedModule] {
        slots.compactMap { $0.module as? any SelfSteppingSeedModule }
    }

    /// Grafts `module` into the named slot (nil empties it). Returns false for an unknown slot.
    @discardableResult
    public func install(_ module: (any SeedSlotModule)?, inSlot name: String) -> Bool {
        guard let index = slots.firstIndex(where: { $0.name == name }) else { return false }
        slots[index].module = module
        return true
    }

    /// Logits for `batch` rows of `input`; returns the logits buffer.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch: Int, training: Bool) throws -> UnsafeMutablePointer<Float> {
        precondition(batch > 0 && batch <= maxBatch)
        let act = architecture.activation
        var current = input
        for stage in inputStage { current = try stage.forward(current, batch: batch) }
        let values = block.values
        for layer in 0..<hiddenCount {
            layerInputs[layer] = current
            let fanIn = widths[layer], fanOut = widths[layer + 1]
            try Kernels.linearForward(
                out: z[layer], input: current, weights: values + weightOffsets[layer], bias: nil,
                batch: batch, inputs: fanIn, outputs: fanOut)
            if layer > 0, let widening = slots[layer - 1].module as? any PreactivationSeedModule {
                try widening.addContribution(
                    layerInput: layerInputs[layer - 1], preactivation: z[layer], batch: batch, inputs: widths[layer - 1],
                    outputs: fanOut, training: training)
            }
            try Kernels.biasActivationForward(act, y: y[layer], z: z[layer], bias: values + biasOffsets[layer], batch: batch, width: fanOut)
            if let module = slots[layer].module {
                try module.forward(input: y[layer], output: slotOutput[layer], batch: batch, width: fanOut, training: training)
                current = UnsafePointer(slotOutput[layer])
            } else {
                current = UnsafePointer(y[layer])
            }
        }
        layerInputs[hiddenCount] = current
        try Kernels.linearForward(
            out: logits, input: current, weights: values + weightOffsets[hiddenCount],
            bias: values + biasOffsets[hiddenCount], batch: batch, inputs: widths[hiddenCount],
            outputs: architecture.classes)
        if hiddenCount > 0, let widening = slots[hiddenCount - 1].module as? any PreactivationSeedModule {
            try widening.addContribution(
                layerInput: layerInputs[hiddenCount - 1], preactivation: logits, batch: batch, inputs: widths[hiddenCount - 1],
                outputs: architecture.classes, training: training)
        }
        return logits
    }

    /// Mean cross-entropy and correct predictions of the last forward.
    public func loss(labels: UnsafePointer<Int32>, batch: Int) throws -> (loss: Float, correct: Int) {
        let classes = architecture.classes
        let loss = try Kernels.softmaxCrossEntropyForward(
            probabilities: probabilities, logits: logits, labels: labels,
            batch: batch, classes: classes)
        return (loss, Kernels.countCorrect(scores: logits, labels: labels, batch: batch, classes: classes))
    }

    /// Backpropagates the last forward's mean loss (times `lossScale`, for gradient
    /// accumulation), accumulating into the gradient buffers.
    public func backward(labels: UnsafePointer<Int32>, batch: Int, lossScale: Float = 1) throws {
        let classes = architecture.classes
        try Kernels.softmaxCrossEntropyBackward(
            logitsGradient: logitsGradient, probabilities: probabilities, labels: labels,
            batch: batch, classes: classes)
        smoothLabels(logitsGradient, labels: labels, batch: batch)
        if lossScale != 1 {
            for i in 0..<(batch * classes) { logitsGradient[i] *= lossScale }
        }
        let values = block.values, gradients = block.gradients
        let act = architecture.activation
        if hiddenCount > 0, let widening = slots[hiddenCount - 1].module as? any PreactivationSeedModule {
            try widening.contributionBackward(preactivationGradient: logitsGradient, batch: batch, outputs: classes)
        }
        try Kernels.linearBackward(
            inputGradient: hiddenCount > 0 ? dSlotOutput[hiddenCount - 1] : inputStage.last?.outputGradient,
            weightGradient: gradients + weightOffsets[hiddenCount],
            biasGradient: gradients + biasOffsets[hiddenCount], outputGradient: logitsGradient,
            input: layerInputs[hiddenCount], weights: values + weightOffsets[hiddenCount],
            batch: batch, inputs: widths[hiddenCount], outputs: classes)
        for layer in stride(from: hiddenCount - 1, through: 0, by: -1) {
            let fanIn = widths[layer], fanOut = widths[layer + 1]
            var activationGradient = UnsafePointer(dSlotOutput[layer])
            if let module = slots[layer].module {
                try module.backward(
                    outputGradient: dSlotOutput[layer], inputGradient: dy[layer], input: y[layer],
                    output: slotOutput[layer], batch: batch, width: fanOut)
                activationGradient = UnsafePointer(dy[layer])
            }
            try Kernels.biasActivationBackward(
                act, dz: dz[layer], biasGradient: gradients + biasOffsets[layer], dy: activationGradient,
                z: z[layer], y: y[layer], batch: batch, width: fanOut)
            if layer > 0, let widening = slots[layer - 1].module as? any PreactivationSeedModule {
                try widening.contributionBackward(preactivationGradient: dz[layer], batch: batch, outputs: fanOut)
            }
            try Kernels.linearBackward(
                inputGradient: layer > 0 ? dSlotOutput[layer - 1] : inputStage.last?.outputGradient,
                weightGradient: gradients + weightOffsets[layer], biasGradient: nil, outputGradient: dz[layer],
                input: layerInputs[layer], weights: values + weightOffsets[layer],
                batch: batch, inputs: fanIn, outputs: fanOut)
        }
        // The input stage, last layer first; the first one's input is the data (no gradient).
        for index in stride(from: inputStage.count - 1, through: 0, by: -1) {
            try inputStage[index].backward(
                outputGradient: inputStage[index].outputGradient,
                inputGradient: index > 0 ? inputStage[index - 1].outputGradient : nil, batch: batch)
        }
    }

    /// The shadow pass of a seed in training (Kasmina's TRAINING stage): the batch's loss with
    /// `activation` in place of slot `layer`'s output, through the host's later dense layers
    /// with their weights held fixed — no host gradient, value or activation buffer of the
    /// main pass is written — and ∂L/∂activation (× `lossScale`), valid until the next call.
    /// Modules grafted into later slots are not part of the shadow objective (identity there).
    public func shadowPass(
        slot layer: Int, activation: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
        lossScale: Float = 1
    ) throws -> (loss: Float, correct: Int, gradient: UnsafePointer<Float>) {
        precondition(layer >= 0 && layer < hiddenCount && batch > 0 && batch <= maxBatch)
        let buffers = shadowBuffers()
        let values = block.values
        let act = architecture.activation
        let classes = architecture.classes
        var current = activation
        for l in (layer + 1)..<hiddenCount {
            try Kernels.linearForward(
                out: buffers.z[l], input: current, weights: values + weightOffsets[l], bias: nil,
                batch: batch, inputs: widths[l], outputs: widths[l + 1])
            try Kernels.biasActivationForward(
                act, y: buffers.y[l], z: buffers.z[l], bias: values + biasOffsets[l], batch: batch,
                width: widths[l + 1])
            current = UnsafePointer(buffers.y[l])
        }
        try Kernels.linearForward(
            out: buffers.logits, input: current, weights: values + weightOffsets[hiddenCount],
            bias: values + biasOffsets[hiddenCount], batch: batch, inputs: widths[hiddenCount], outputs: classes)
        let loss = try Kernels.softmaxCrossEntropyForward(
            probabilities: buffers.probabilities, logits: buffers.logits, labels: labels,
            batch: batch, classes: classes)
        let correct = Kernels.countCorrect(scores: buffers.logits, labels: labels, batch: batch, classes: classes)
        try Kernels.softmaxCrossEntropyBackward(
            logitsGradient: buffers.logitsGradient, probabilities: buffers.probabilities,
            labels: labels, batch: batch, classes: classes)
        smoothLabels(buffers.logitsGradient, labels: labels, batch: batch)
        if lossScale != 1 {
            for i in 0..<(batch * classes) { buffers.logitsGradient[i] *= lossScale }
        }
        try Kernels.linearBackward(
            inputGradient: buffers.dInput[hiddenCount - 1], weightGradient: buffers.discardedWeights,
            biasGradient: nil, outputGradient: buffers.logitsGradient, input: current,
            weights: values + weightOffsets[hiddenCount], batch: batch, inputs: widths[hiddenCount],
            outputs: classes)
        for l in stride(from: hiddenCount - 1, through: layer + 1, by: -1) {
            try Kernels.biasActivationBackward(
                act, dz: buffers.dz[l], biasGradient: nil, dy: buffers.dInput[l], z: buffers.z[l],
                y: buffers.y[l], batch: batch, width: widths[l + 1])
            try Kernels.linearBackward(
                inputGradient: buffers.dInput[l - 1], weightGradient: buffers.discardedWeights, biasGradient: nil,
                outputGradient: buffers.dz[l], input: l == layer + 1 ? activation : UnsafePointer(buffers.y[l - 1]),
                weights: values + weightOffsets[l], batch: batch, inputs: widths[l], outputs: widths[l + 1])
        }
        return (loss, correct, UnsafePointer(buffers.dInput[layer]))
    }

    /// The shadow pass of a widening seed in training: the batch's loss with `contribution`
    /// added to the pre-activation of layer `layer + 1` (the logits after the last hidden
    /// layer) of the last forward, through the later layers with their weights held fixed, and
    /// ∂L/∂(that pre-activation) (× `lossScale`). Writes nothing of the main pass.
    public func shadowPass(
        contributionAfter layer: Int, contribution: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
        lossScale: Float = 1
    ) throws -> (loss: Float, correct: Int, gradient: UnsafePointer<Float>) {
        precondition(layer >= 0 && layer < hiddenCount && batch > 0 && batch <= maxBatch)
        let buffers = shadowBuffers()
        let values = block.values
        let act = architecture.activation
        let classes = architecture.classes
        let target = layer + 1
        // Forward from the perturbed pre-activation (z of the main pass already holds its bias).
        var current: UnsafePointer<Float>?
        if target < hiddenCount {
            let width = widths[target + 1]
            for i in 0..<(batch * width) { buffers.z[target][i] = z[target][i] + contribution[i] }
            try Kernels.biasActivationForward(act, y: buffers.y[target], z: buffers.z[target], bias: nil, batch: batch, width: width)
            current = UnsafePointer(buffers.y[target])
            for l in (target + 1)..<max(target + 1, hiddenCount) {
                try Kernels.linearForward(
                    out: buffers.z[l], input: current!, weights: values + weightOffsets[l], bias: nil,
                    batch: batch, inputs: widths[l], outputs: widths[l + 1])
                try Kernels.biasActivationForward(
                    act, y: buffers.y[l], z: buffers.z[l], bias: values + biasOffsets[l], batch: batch, width: widths[l + 1])
                current = UnsafePointer(buffers.y[l])
            }
            try Kernels.linearForward(
                out: buffers.logits, input: current!, weights: values + weightOffsets[hiddenCount],
                bias: values + biasOffsets[hiddenCount], batch: batch, inputs: widths[hiddenCount], outputs: classes)
        } else {
            for i in 0..<(batch * classes) { buffers.logits[i] = logits[i] + contribution[i] }
        }
        let loss = try Kernels.softmaxCrossEntropyForward(
            probabilities: buffers.probabilities, logits: buffers.logits, labels: labels, batch: batch, classes: classes)
        let correct = Kernels.countCorrect(scores: buffers.logits, labels: labels, batch: batch, classes: classes)
        try Kernels.softmaxCrossEntropyBackward(
            logitsGradient: buffers.logitsGradient, probabilities: buffers.probabilities, labels: labels, batch: batch,
            classes: classes)
        smoothLabels(buffers.logitsGradient, labels: labels, batch: batch)
        if lossScale != 1 {
            for i in 0..<(batch * classes) { buffers.logitsGradient[i] *= lossScale }
        }
        guard let last = current else { return (loss, correct, UnsafePointer(buffers.logitsGradient)) }
        try Kernels.linearBackward(
            inputGradient: buffers.dInput[hiddenCount - 1], weightGradient: buffers.discardedWeights, biasGradient: nil,
            outputGradient: buffers.logitsGradient, input: last, weights: values + weightOffsets[hiddenCount],
            batch: batch, inputs: widths[hiddenCount], outputs: classes)
        for l in stride(from: hiddenCount - 1, through: target, by: -1) {
            try Kernels.biasActivationBackward(
                act, dz: buffers.dz[l], biasGradient: nil, dy: buffers.dInput[l], z: buffers.z[l], y: buffers.y[l],
                batch: batch, width: widths[l + 1])
            guard l > target else { break }
            try Kernels.linearBackward(
                inputGradient: buffers.dInput[l - 1], weightGradient: buffers.discardedWeights, biasGradient: nil,
                outputGradient: buffers.dz[l], input: UnsafePointer(buffers.y[l - 1]), weights: values + weightOffsets[l],
                batch: batch, inputs: widths[l], outputs: widths[l + 1])
        }
        return (loss, correct, UnsafePointer(buffers.dz[target]))
    }

    /// This host with hidden layer `layer` wider by `units` (a fossilised widening seed): the
    /// new units' incoming weights and bias become new rows of the layer, their outgoing
    /// weights new columns of the next one. Every existing value, optimizer moment and group
    /// setting (rate, frozen, step) is kept; the new entries' moments start at zero. With the
    /// units' contribution equal to what the seed added, the function is the same.
    public func widened(layer: Int, by units: WideningUnits) -> HostMLP {
        precondition(layer >= 0 && layer < hiddenCount && units.units > 0)
        let k = units.units, fanIn = widths[layer], next = widths[layer + 2]
        precondition(units.incoming.count == k * fanIn && units.bias.count == k && units.outgoing.count == next * k)
        var shape = architecture
        shape.hiddenSizes[layer] += k
        let wider = HostMLP(architecture: shape, maxBatch: maxBatch, learningRate: hostGroups[0].learningRate, seed: 0)
        wider.labelSmoothing = labelSmoothing
        for (old, new) in zip(hostGroups, wider.hostGroups) {
            new.learningRate = old.learningRate
            new.frozen = old.frozen
            new.step = old.step
        }
        let pairs: [(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, Bool)] = [
            (block.values, wider.block.values, true), (block.firstMoment, wider.block.firstMoment, false),
            (block.secondMoment, wider.block.secondMoment, false),
        ]
        for (source, destination, _) in pairs {
            // The input stage comes first in both blocks and does not change.
            destination.update(from: source, count: architecture.convolutionParameterCount)
        }
        for (source, destination, isValue) in pairs {
            for l in 0...hiddenCount {
                let inputs = widths[l], outputs = widths[l + 1]
                let w = source + weightOffsets[l], b = source + biasOffsets[l]
                let nw = destination + wider.weightOffsets[l], nb = destination + wider.biasOffsets[l]
                if l == layer {
                    // k new rows after the existing ones.
                    nw.update(from: w, count: outputs * inputs)
                    nb.update(from: b, count: outputs)
                    for i in 0..<(k * inputs) { nw[outputs * inputs + i] = isValue ? units.incoming[i] : 0 }
                    for j in 0..<k { nb[outputs + j] = isValue ? units.bias[j] : 0 }
                } else if l == layer + 1 {
                    // k new columns at the end of every row.
                    for r in 0..<outputs {
                        (nw + r * (inputs + k)).update(from: w + r * inputs, count: inputs)
                        for j in 0..<k { nw[r * (inputs + k) + inputs + j] = isValue ? units.outgoing[r * k + j] : 0 }
                    }
                    nb.update(from: b, count: outputs)
                } else {
                    nw.update(from: w, count: outputs * inputs)
                    nb.update(from: b, count: outputs)
                }
            }
        }
        return wider
    }

    /// (p − one-hot)/B → (p − t)/B with t = (1 − ε)·one-hot + ε/C: adds ε·(one-hot − 1/C)/B.
    private func smoothLabels(_ gradient: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, batch: Int) {
        guard labelSmoothing > 0 else { return }
        let classes = architecture.classes
        let scale = labelSmoothing / Float(batch)
        let uniform = scale / Float(classes)
        for b in 0..<batch {
            let row = gradient + b * classes
            for c in 0..<classes { row[c] -= uniform }
            row[Int(labels[b])] += scale
        }
    }

    private func shadowBuffers() -> ShadowBuffers {
        if let shadow { return shadow }
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            shadowAllocations.append(pointer)
            return pointer
        }
        let hidden = architecture.hiddenSizes
        let largestLayer = (0...hiddenCount).map { widths[$0] * widths[$0 + 1] }.max() ?? 1
        let buffers = ShadowBuffers(
            z: hidden.map { buffer(maxBatch * $0) }, y: hidden.map { buffer(maxBatch * $0) }, dz: hidden.map { buffer(maxBatch * $0) },
            dInput: hidden.map { buffer(maxBatch * $0) }, logits: buffer(maxBatch * architecture.classes),
            probabilities: buffer(maxBatch * architecture.classes), logitsGradient: buffer(maxBatch * architecture.classes),
            discardedWeights: buffer(largestLayer))
        shadow = buffers
        return buffers
    }

    /// Zeroes the gradients of the host and of every grafted module.
    public func zeroGradients() {
        block.zeroGradients()
        for slot in slots { for group in slot.module?.parameterGroups ?? [] { group.gradients.update(repeating: 0, count: group.count) } }
    }
}
