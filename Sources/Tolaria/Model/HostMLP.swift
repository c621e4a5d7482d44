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
    /// Conv branches beside the dense layers (fossilised structural seeds, or declared in
    /// `model.branches`), in the order they joined; nil or empty: none (optional so older
    /// architectures still decode). Their groups come last in the block.
    public var branches: [ConvBranchShape]?
    /// Conv layers inserted after declared conv layers (fossilised depth seeds), in the order
    /// they joined; nil or empty: none (optional so older architectures still decode). Their
    /// groups come last in the block, after the branches'.
    public var insertions: [ConvInsertShape]?

    public init(
        inputs: Int, hiddenSizes: [Int], classes: Int, activation: Activation = .relu,
        initialisation: WeightInitialisation = .kaimingUniform, convolutions: [Conv1DLayerShape]? = nil,
        branches: [ConvBranchShape]? = nil, insertions: [ConvInsertShape]? = nil
    ) {
        self.inputs = inputs
        self.hiddenSizes = hiddenSizes
        self.classes = classes
        self.activation = activation
        self.initialisation = initialisation
        self.convolutions = convolutions?.isEmpty == true ? nil : convolutions
        self.branches = branches?.isEmpty == true ? nil : branches
        self.insertions = insertions?.isEmpty == true ? nil : insertions
    }

    /// The host a run's model spec declares over `inputs` features (conv layers resolved for
    /// that signal length; a spec that does not fit is refused at submission, see
    /// `ModelSpec.shapeProblems`).
    public init(model: ModelSpec, inputs: Int, classes: Int) {
        let resolved = model.resolvedLayers(inputs: inputs)
        self.init(
            inputs: inputs, hiddenSizes: resolved.hiddenSizes, classes: classes, activation: model.activation,
            initialisation: model.initialisation, convolutions: resolved.convolutions,
            branches: model.resolvedBranches(widths: [resolved.convolutions.last?.outputWidth ?? inputs] + resolved.hiddenSizes + [classes])
        )
    }

    /// Floats per example entering the first dense layer: the flattened output of the last
    /// conv layer, or the inputs.
    public var denseInputs: Int { convolutions?.last?.outputWidth ?? inputs }

    /// Dense layer widths from the dense input to logits.
    public var widths: [Int] { [denseInputs] + hiddenSizes + [classes] }

    /// Floats of all conv parameters (first in the block).
    public var convolutionParameterCount: Int { (convolutions ?? []).reduce(0) { $0 + $1.parameterCount } }

    /// Floats of all weights and biases (conv branches included).
    public var parameterCount: Int {
        let w = widths
        return convolutionParameterCount + (0..<(w.count - 1)).reduce(0) { $0 + w[$1 + 1] * w[$1] + w[$1 + 1] }
            + (branches ?? []).reduce(0) { $0 + $1.parameterCount } + insertionParameterCount
    }

    /// Floats of the inserted conv layers (last in the block).
    public var insertionParameterCount: Int { (insertions ?? []).reduce(0) { $0 + $1.parameterCount } }

    /// This architecture with one more inserted conv layer (a fossilised depth seed).
    public func inserting(_ insertion: ConvInsertShape) -> HostArchitecture {
        var shape = self
        shape.insertions = (insertions ?? []) + [insertion]
        return shape
    }

    /// Where an inserted conv after declared conv layer `layer` would read and write: that
    /// layer's output length and channels (nil: the host has no such conv layer).
    public func convolutionOutput(after layer: Int) -> (length: Int, channels: Int)? {
        guard let convolutions, convolutions.indices.contains(layer) else { return nil }
        return (convolutions[layer].outputLength, convolutions[layer].channels)
    }

    /// This architecture with one more conv branch (a fossilised structural seed).
    public func adding(_ branch: ConvBranchShape) -> HostArchitecture {
        var shape = self
        shape.branches = (branches ?? []) + [branch]
        return shape
    }
}

/// The host: a chain of `HostLayer`s — conv1d layers (optional; after each, the convs inserted
/// there and a conv seed slot), dense hidden layers with a seed slot after each, the dense
/// output layer — and softmax cross-entropy on the logits. All parameters live in one
/// `ParameterBlock` (conv layers first, then dense layers, branches, inserted convs). A pass
/// (`HostPass`) holds every activation and gradient buffer, allocated once for the largest
/// batch, so a training step allocates nothing. The main pass, the shadow passes of seeds in
/// training and the ablation passes all run the layers' one forward and backward.
public final class HostMLP {
    public let architecture: HostArchitecture
    public let block: ParameterBlock
    /// One group per layer: `host.conv-0`, …, `host.layer-0`, …, `host.output`.
    public let hostGroups: [ParameterGroup]
    public let maxBatch: Int
    /// ε of label smoothing in every training gradient (main and shadow passes); 0 = off.
    public var labelSmoothing: Float = 0

    /// Input to logits, in order.
    let layers: [any HostLayer]
    /// The hidden dense layers then the output layer.
    let dense: [DenseLayer]
    let slotLayers: [SeedSlotLayer]
    /// Where each slot sits in `layers`.
    let slotIndices: [Int]
    /// The slots after the declared conv layers (`conv-slot-<i>`), and where each sits in `layers`.
    let convSlotLayers: [SeedSlotLayer]
    let convSlotIndices: [Int]
    /// The inserted conv layers (`architecture.insertions`), in that order.
    let insertLayers: [ConvInsertLayer]
    /// By index in `layers`: whether it is a slot.
    let isSlot: [Bool]
    /// For the layer after a slot: that slot and the index of the layer before it (whose
    /// input a widening seed reads).
    let contributionSources: [(slot: SeedSlotLayer, source: Int)?]
    /// The conv branches (`architecture.branches`), their groups and where they read and write.
    let branches: [HostBranch]
    let main: HostPass
    /// The shadow pass's buffers, allocated on its first use (most runs never need them).
    private var shadow: HostPass?

    public init(architecture: HostArchitecture, maxBatch: Int, learningRate: Float, seed: UInt64) {
        precondition(maxBatch > 0 && architecture.inputs > 0 && architecture.classes > 1)
        self.architecture = architecture
        self.maxBatch = maxBatch
        let block = ParameterBlock(count: architecture.parameterCount)
        self.block = block
        var offset = 0
        func group(_ name: String, _ count: Int) -> ParameterGroup {
            defer { offset += count }
            return ParameterGroup(name: name, block: block, offset: offset, count: count, learningRate: learningRate)
        }
        var layers: [any HostLayer] = []
        // The inserted convs' groups come last in the block: their offsets are known up front.
        var insertOffset = architecture.parameterCount - architecture.insertionParameterCount
        let insertLayers = (architecture.insertions ?? []).enumerated().map { index, shape in
            precondition(
                shape.fits && architecture.convolutionOutput(after: shape.after).map { $0 == (shape.length, shape.channels) } == true,
                "an inserted conv that does not fit the host")
            defer { insertOffset += shape.parameterCount }
            return ConvInsertLayer(
                shape: shape,
                parameters: ParameterGroup(
                    name: "host.insert-\(index)", block: block, offset: insertOffset, count: shape.parameterCount,
                    learningRate: learningRate))
        }
        var convSlotLayers: [SeedSlotLayer] = [], convSlotIndices: [Int] = []
        for (index, shape) in (architecture.convolutions ?? []).enumerated() {
            layers.append(
                Conv1DLayer(
                    shape: shape, scheme: architecture.initialisation, parameters: group("host.conv-\(index)", shape.parameterCount)))
            layers += insertLayers.filter { $0.shape.after == index } as [any HostLayer]
            convSlotIndices.append(layers.count)
            convSlotLayers.append(SeedSlotLayer(layer: index, width: shape.outputWidth, convolution: true))
            layers.append(convSlotLayers[index])
        }
        self.convSlotLayers = convSlotLayers
        self.convSlotIndices = convSlotIndices
        self.insertLayers = insertLayers
        let widths = architecture.widths
        let hidden = architecture.hiddenSizes.count
        var dense: [DenseLayer] = [], slotLayers: [SeedSlotLayer] = [], slotIndices: [Int] = []
        for l in 0...hidden {
            let fanIn = widths[l], fanOut = widths[l + 1]
            let name = l == hidden ? "host.output" : "host.layer-\(l)"
            // The output layer feeds softmax, not an activation: Xavier keeps initial logits small.
            let layer = DenseLayer(
                inputs: fanIn, outputs: fanOut, activation: l == hidden ? nil : architecture.activation,
                scheme: l == hidden ? .xavierUniform : architecture.initialisation, parameters: group(name, fanIn * fanOut + fanOut))
            dense.append(layer)
            layers.append(layer)
            guard l < hidden else { break }
            slotIndices.append(layers.count)
            slotLayers.append(SeedSlotLayer(layer: l, width: fanOut))
            layers.append(slotLayers[l])
        }
        self.layers = layers
        self.dense = dense
        self.slotLayers = slotLayers
        self.slotIndices = slotIndices
        isSlot = layers.indices.map { slotIndices.contains($0) || convSlotIndices.contains($0) }
        var sources: [(slot: SeedSlotLayer, source: Int)?] = Array(repeating: nil, count: layers.count)
        for (slot, index) in zip(slotLayers, slotIndices) { sources[index + 1] = (slot, index - 1) }
        for shape in architecture.branches ?? [] {
            precondition(
                shape.layer < hidden && shape.inputs == widths[shape.layer] && shape.outputs == widths[shape.layer + 2] && shape.fits,
                "a conv branch that does not fit the host")
        }
        contributionSources = sources
        branches = (architecture.branches ?? []).enumerated().map { index, shape in
            let target = slotIndices[shape.layer] + 1
            return HostBranch(
                shape: shape, group: group("host.branch-\(index)", shape.parameterCount), target: target, source: target - 2,
                maxBatch: maxBatch)
        }
        // In block order: the inserted convs' groups sit in the chain but last in the block.
        hostGroups = (layers.compactMap { $0.group } + branches.map(\.group)).sorted { $0.offset < $1.offset }
        main = HostPass(layers: layers, maxBatch: maxBatch, classes: architecture.classes)
        initialise(seed: seed)
    }

    /// Weights from the run seed (their own RNG stream, drawn layer by layer); biases zero.
    func initialise(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: .initialisation)
        for layer in layers { layer.initialise(&rng) }
        for branch in branches { branch.runner.initialise(&rng, zeroMap: false) }
    }

    /// The slots after the hidden layers (`slot-<l>`, in order), then those after the declared
    /// conv layers (`conv-slot-<i>`), with what is grafted into them.
    public var slots: [SeedSlot] { allSlotLayers.map(\.slot) }

    private var allSlotLayers: [SeedSlotLayer] { slotLayers + convSlotLayers }

    /// The logits of the last forward.
    public var logits: UnsafeMutablePointer<Float> { main.logits }

    /// The dense output layer (its bias is the last thing before the logits).
    var outputLayer: DenseLayer { dense[dense.count - 1] }

    /// Host groups and the groups of every grafted module, in a fixed order.
    public var parameterGroups: [ParameterGroup] {
        hostGroups + allSlotLayers.flatMap { $0.module?.parameterGroups ?? [] }
    }

    /// The groups Tolaria's optimizer steps (and whose gradients its norm and clipping see):
    /// the host's and those of modules that do not step themselves.
    public var optimizedGroups: [ParameterGroup] {
        hostGroups
            + allSlotLayers.flatMap { slot -> [ParameterGroup] in
                guard let module = slot.module, !module.capabilities.contains(.selfStepping) else { return [] }
                return module.parameterGroups
            }
    }

    /// Modules that step their own parameters after the host's step.
    public var selfSteppingModules: [any SeedSlotModule] {
        modules(with: .selfStepping).map(\.module)
    }

    /// The grafted modules that declare `capability`, with the slot each is in.
    public func modules(with capability: SeedModuleCapabilities) -> [(slot: SeedSlot, module: any SeedSlotModule)] {
        allSlotLayers.compactMap { layer in
            guard let module = layer.module, module.capabilities.contains(capability) else { return nil }
            return (layer.slot, module)
        }
    }

    /// Grafts `module` into the named slot (nil empties it). Returns false for an unknown slot.
    @discardableResult
    public func install(_ module: (any SeedSlotModule)?, inSlot name: String) -> Bool {
        guard let slot = allSlotLayers.first(where: { $0.name == name }) else { return false }
        slot.module = module
        return true
    }

    // MARK: - Passes

    /// Logits for `batch` rows of `input`; returns the logits buffer.
    @discardableResult
    public func forward(_ input: UnsafePointer<Float>, batch: Int, training: Bool) throws -> UnsafeMutablePointer<Float> {
        precondition(batch > 0 && batch <= maxBatch)
        _ = try forward(main, from: 0, input: input, LayerStep(batch: batch, training: training, discard: nil), seeds: true)
        return main.logits
    }

    /// Mean cross-entropy and correct predictions of the last forward.
    public func loss(labels: UnsafePointer<Int32>, batch: Int) throws -> (loss: Float, correct: Int) {
        try main.loss(labels: labels, batch: batch)
    }

    /// Backpropagates the last forward's mean loss (times `lossScale`, for gradient
    /// accumulation), accumulating into the gradient buffers.
    public func backward(labels: UnsafePointer<Int32>, batch: Int, lossScale: Float = 1) throws {
        try main.lossGradient(labels: labels, batch: batch, lossScale: lossScale, labelSmoothing: labelSmoothing)
        try backward(
            main, through: 0, LayerStep(batch: batch, training: true, discard: nil), seeds: true, boundary: nil,
            toPreactivation: false)
    }

    /// The shadow pass of a seed in training (Kasmina's TRAINING stage): the batch's loss with
    /// `activation` in place of slot `layer`'s output, through the host's later layers with
    /// their weights held fixed — no host gradient, value or activation buffer of the main
    /// pass is written — and ∂L/∂activation (× `lossScale`), valid until the next call.
    /// Modules grafted into later slots are not part of the shadow objective (identity there).
    public func shadowPass(
        slot layer: Int, activation: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
        lossScale: Float = 1
    ) throws -> (loss: Float, correct: Int, gradient: UnsafePointer<Float>) {
        precondition(layer >= 0 && layer < slotLayers.count && batch > 0 && batch <= maxBatch)
        return try shadowPass(after: slotIndices[layer], activation: activation, labels: labels, batch: batch, lossScale: lossScale)
    }

    /// The shadow pass of a seed in conv slot `layer` (`conv-slot-<layer>`; Kasmina's inserted
    /// convs in TRAINING): the batch's loss with the slot's output h + `contribution` (h the
    /// slot's input in the last forward), through the host's later layers — conv layers
    /// included — with their weights held fixed, and ∂L/∂(h + contribution) (× `lossScale`),
    /// which is ∂L/∂contribution. Writes nothing of the main pass.
    public func shadowPass(
        convolutionSlot layer: Int, contribution: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
        lossScale: Float = 1
    ) throws -> (loss: Float, correct: Int, gradient: UnsafePointer<Float>) {
        precondition(layer >= 0 && layer < convSlotLayers.count && batch > 0 && batch <= maxBatch)
        let slot = convSlotIndices[layer]
        guard let h = main.activations[slot].input else { preconditionFailure("a conv-slot shadow pass before its forward") }
        let pass = shadowBuffers()
        let activation = pass.activations[slot].output
        for i in 0..<(batch * convSlotLayers[layer].width) { activation[i] = h[i] + contribution[i] }
        return try shadowPass(after: slot, activation: activation, labels: labels, batch: batch, lossScale: lossScale)
    }

    /// The layers after chain index `slot` from `activation`, weights held fixed; the gradient
    /// is ∂L/∂activation.
    private func shadowPass(
        after slot: Int, activation: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, lossScale: Float
    ) throws -> (loss: Float, correct: Int, gradient: UnsafePointer<Float>) {
        let pass = shadowBuffers()
        let step = LayerStep(batch: batch, training: true, discard: pass.discard)
        _ = try forward(pass, from: slot + 1, input: activation, step, seeds: false)
        let (loss, correct) = try pass.loss(labels: labels, batch: batch)
        try pass.lossGradient(labels: labels, batch: batch, lossScale: lossScale, labelSmoothing: labelSmoothing)
        let gradient = pass.activations[slot].outputGradient
        try backward(pass, through: slot + 1, step, seeds: false, boundary: gradient, toPreactivation: false)
        return (loss, correct, UnsafePointer(gradient))
    }

    /// The shadow pass of a widening seed in training: the batch's loss with `contribution`
    /// added to the pre-activation of layer `layer + 1` (the logits after the last hidden
    /// layer) of the last forward, through the later layers with their weights held fixed, and
    /// ∂L/∂(that pre-activation) (× `lossScale`). Writes nothing of the main pass.
    public func shadowPass(
        contributionAfter layer: Int, contribution: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int,
        lossScale: Float = 1
    ) throws -> (loss: Float, correct: Int, gradient: UnsafePointer<Float>) {
        precondition(layer >= 0 && layer < slotLayers.count && batch > 0 && batch <= maxBatch)
        let pass = shadowBuffers()
        let target = slotIndices[layer] + 1
        let step = LayerStep(batch: batch, training: true, discard: pass.discard)
        _ = try forward(
            pass, from: target, input: main.activations[target].input!, step, seeds: false,
            first: .resume(from: main.activations[target], added: contribution))
        let (loss, correct) = try pass.loss(labels: labels, batch: batch)
        try pass.lossGradient(labels: labels, batch: batch, lossScale: lossScale, labelSmoothing: labelSmoothing)
        try backward(pass, through: target, step, seeds: false, boundary: nil, toPreactivation: true)
        return (loss, correct, layers[target].preactivationGradient(pass.activations[target]))
    }

    /// Runs the chain from layer `start` on; returns the logits. `seeds`: the main pass (slots
    /// apply their modules, widening seeds add to pre-activations); otherwise every slot is
    /// the identity. `first` is the hook of layer `start`.
    private func forward(
        _ pass: HostPass, from start: Int, input: UnsafePointer<Float>, _ step: LayerStep, seeds: Bool,
        first: PreactivationHook = .none
    ) throws -> UnsafePointer<Float> {
        var current = input
        for index in start..<layers.count where runs(index, seeds: seeds) {
            let hook = index == start ? first : seeds ? contributionHook(index, pass) : .none
            var layerStep = step
            layerStep.added = try branchContribution(index, pass, step)
            current = try layers[index].forward(current, pass.activations[index], layerStep, hook: hook)
        }
        return current
    }

    /// Backpropagates from the logits gradient of `pass` down to layer `start`, whose input
    /// gradient goes to `boundary` (nil: not needed); with `toPreactivation`, layer `start`
    /// stops at its pre-activation gradient.
    private func backward(
        _ pass: HostPass, through start: Int, _ step: LayerStep, seeds: Bool, boundary: UnsafeMutablePointer<Float>?,
        toPreactivation: Bool
    ) throws {
        var index: Int? = previous(before: layers.count, through: start, seeds: seeds)
        while let current = index {
            let next = previous(before: current, through: start, seeds: seeds)
            try layers[current].backward(
                pass.activations[current], inputGradient: next.map { pass.activations[$0].outputGradient } ?? boundary, step,
                hook: seeds ? contributionHook(current, pass) : .none, toPreactivation: toPreactivation && current == start)
            if step.discard == nil {
                // The branches into this layer learn from its pre-activation gradient (their input is detached).
                let gradient = layers[current].preactivationGradient(pass.activations[current])
                for branch in branches where branch.target == current { try branch.runner.backward(gradient, inputGradient: nil) }
            }
            index = next
        }
    }

    /// Whether layer `index` takes part in a pass (empty slots never do, no slot does in a
    /// shadow pass).
    private func runs(_ index: Int, seeds: Bool) -> Bool {
        (seeds || !isSlot[index]) && !layers[index].passesThrough
    }

    /// The last layer before `index`, not before `start`, that takes part in the pass.
    private func previous(before index: Int, through start: Int, seeds: Bool) -> Int? {
        var candidate = index - 1
        while candidate >= start {
            if runs(candidate, seeds: seeds) { return candidate }
            candidate -= 1
        }
        return nil
    }

    /// A widening seed's contribution to layer `index`'s pre-activation, if the slot before
    /// it carries one.
    private func contributionHook(_ index: Int, _ pass: HostPass) -> PreactivationHook {
        guard let (slot, source) = contributionSources[index], let module = slot.module,
            module.capabilities.contains(.preactivation), let input = pass.activations[source].input
        else { return .none }
        return .contribution(module, layerInput: input, inputs: layers[source].inputWidth)
    }

    /// The sum of the conv branches into layer `index`'s pre-activation (nil: none). The main
    /// pass computes them from its source layer's input; a shadow pass reuses the main pass's
    /// (same input, weights held fixed).
    private func branchContribution(_ index: Int, _ pass: HostPass, _ step: LayerStep) throws -> UnsafePointer<Float>? {
        let into = branches.filter { $0.target == index }
        guard let first = into.first else { return nil }
        if pass === main {
            for branch in into {
                guard let input = pass.activations[branch.source].input else { return nil }
                try branch.runner.forward(input, into: branch.output, batch: step.batch)
            }
            for branch in into.dropFirst() {
                for i in 0..<(step.batch * branch.shape.outputs) { first.output[i] += branch.output[i] }
            }
        }
        return UnsafePointer(first.output)
    }

    private func shadowBuffers() -> HostPass {
        if let shadow { return shadow }
        // A shadow pass starts after a slot: the layers before the first one need no buffers.
        // Its discarded weight gradients: as many floats as the largest layer has parameters.
        let largest = layers.compactMap { $0.group?.count }.max() ?? 1
        let first = (slotIndices + convSlotIndices).min() ?? 0
        let pass = HostPass(layers: layers, maxBatch: maxBatch, classes: architecture.classes, from: first, discard: largest)
        shadow = pass
        return pass
    }

    // MARK: - Growth

    /// This host with hidden layer `layer` wider by `units` (a fossilised widening seed): the
    /// new units' incoming weights and bias become new rows of the layer, their outgoing
    /// weights new columns of the next one. Every existing value, optimizer moment and group
    /// setting (rate, frozen, step) is kept; the new entries' moments start at zero. With the
    /// units' contribution equal to what the seed added, the function is the same.
    public func widened(layer: Int, by units: WideningUnits) -> HostMLP {
        let hiddenCount = slotLayers.count
        let widths = architecture.widths
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
                let w = source + dense[l].parameters.offset, b = w + outputs * inputs
                let nw = destination + wider.dense[l].parameters.offset, nb = nw + wider.dense[l].outputs * wider.dense[l].inputs
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
            for (old, new) in zip(
                branches.map(\.group) + insertLayers.map(\.parameters), wider.branches.map(\.group) + wider.insertLayers.map(\.parameters))
            {
                (destination + new.offset).update(from: source + old.offset, count: old.count)
            }
        }
        return wider
    }

    /// This host with `insertion` as one more inserted conv layer carrying `values` (a fossilised
    /// depth seed: the same function, since the layer computes exactly what the seed added at
    /// α = 1). Every existing group keeps its values, optimizer moments and settings (by name);
    /// the new group (`host.insert-<i>`, last in the block) starts at the host's rate with zero
    /// moments. Grafted modules are not moved (the caller installs them).
    public func inserting(_ insertion: ConvInsertShape, values: [Float]) -> HostMLP {
        precondition(values.count == insertion.parameterCount)
        let grown = HostMLP(
            architecture: architecture.inserting(insertion), maxBatch: maxBatch, learningRate: hostGroups[0].learningRate, seed: 0)
        grown.labelSmoothing = labelSmoothing
        let old = Dictionary(uniqueKeysWithValues: hostGroups.map { ($0.name, $0) })
        for group in grown.hostGroups {
            guard let source = old[group.name] else {
                values.withUnsafeBufferPointer { group.values.update(from: $0.baseAddress!, count: values.count) }
                continue
            }
            precondition(source.count == group.count)
            group.values.update(from: source.values, count: group.count)
            group.firstMoment.update(from: source.firstMoment, count: group.count)
            group.secondMoment.update(from: source.secondMoment, count: group.count)
            group.learningRate = source.learningRate
            group.frozen = source.frozen
            group.step = source.step
        }
        return grown
    }

    /// Zeroes the gradients of the host and of every grafted module.
    public func zeroGradients() {
        block.zeroGradients()
        for slot in allSlotLayers {
            for group in slot.module?.parameterGroups ?? [] { group.gradients.update(repeating: 0, count: group.count) }
        }
    }
}
