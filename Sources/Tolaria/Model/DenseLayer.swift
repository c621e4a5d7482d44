import Kernels

/// A dense layer: weights `[outputs, inputs]` then the bias, one group of the host's block.
/// A hidden layer applies its activation with the bias in one kernel (z = x·Wᵀ, then
/// z += b and y = act(z) in place); the output layer (`activation` nil) adds the bias in the
/// GEMM and its output is the logits. A widening seed's contribution goes into z between the
/// two (the logits, after the bias, for the output layer) — the order the results depend on.
final class DenseLayer: HostLayer {
    let inputs: Int
    let outputs: Int
    /// nil: the output layer (no activation, bias added in the GEMM).
    let activation: Activation?
    let scheme: WeightInitialisation
    let parameters: ParameterGroup

    init(inputs: Int, outputs: Int, activation: Activation?, scheme: WeightInitialisation, parameters: ParameterGroup) {
        precondition(parameters.count == outputs * inputs + outputs)
        self.inputs = inputs
        self.outputs = outputs
        self.activation = activation
        self.scheme = scheme
        self.parameters = parameters
    }

    var inputWidth: Int { inputs }
    var outputWidth: Int { outputs }
    var group: ParameterGroup? { parameters }
    /// A hidden layer keeps z and ∂L/∂z; the output layer's pre-activation is its output.
    var scratchWidths: [Int] { activation == nil ? [] : [outputs, outputs] }
    var weights: UnsafeMutablePointer<Float> { parameters.values }
    var bias: UnsafeMutablePointer<Float> { parameters.values + outputs * inputs }

    func initialise(_ rng: inout RandomGenerator) {
        rng.initialiseWeights(weights, count: outputs * inputs, fanIn: inputs, fanOut: outputs, scheme: scheme)
        bias.update(repeating: 0, count: outputs)
    }

    /// z: the pre-activation buffer (the output itself for the output layer).
    private func preactivation(_ pass: LayerActivations) -> UnsafeMutablePointer<Float> {
        activation == nil ? pass.output : pass.scratch[0]
    }

    func forward(
        _ input: UnsafePointer<Float>, _ pass: LayerActivations, _ step: LayerStep, hook: PreactivationHook
    ) throws
        -> UnsafePointer<Float>
    {
        pass.input = input
        let batch = step.batch
        let z = preactivation(pass)
        var bias: UnsafePointer<Float>? = UnsafePointer(self.bias)
        switch hook {
        case .resume(let main, let added):
            let base = preactivation(main)
            for i in 0..<(batch * outputs) { z[i] = base[i] + added[i] }
            bias = nil
        case .none, .contribution:
            try Kernels.linearForward(
                out: z, input: input, weights: weights, bias: activation == nil ? bias : nil, batch: batch, inputs: inputs,
                outputs: outputs)
            if let added = step.added {
                for i in 0..<(batch * outputs) { z[i] += added[i] }
            }
            if case .contribution(let module, let layerInput, let layerInputs) = hook {
                try module.addContribution(
                    layerInput: layerInput, preactivation: z, batch: batch, inputs: layerInputs, outputs: outputs,
                    training: step.training)
            }
        }
        guard let activation else { return UnsafePointer(pass.output) }
        try Kernels.biasActivationForward(activation, y: pass.output, z: z, bias: bias, batch: batch, width: outputs)
        return UnsafePointer(pass.output)
    }

    func backward(
        _ pass: LayerActivations, inputGradient: UnsafeMutablePointer<Float>?, _ step: LayerStep, hook: PreactivationHook,
        toPreactivation: Bool
    ) throws {
        let batch = step.batch
        let biasGradient = step.discard == nil ? parameters.gradients + outputs * inputs : nil
        var dz = UnsafePointer(pass.outputGradient)
        if let activation {
            try Kernels.biasActivationBackward(
                activation, dz: pass.scratch[1], biasGradient: biasGradient, dy: pass.outputGradient, z: pass.scratch[0],
                y: pass.output, batch: batch, width: outputs)
            dz = UnsafePointer(pass.scratch[1])
        }
        guard !toPreactivation else { return }
        if case .contribution(let module, _, _) = hook {
            try module.contributionBackward(preactivationGradient: dz, batch: batch, outputs: outputs)
        }
        try Kernels.linearBackward(
            inputGradient: inputGradient, weightGradient: step.discard ?? parameters.gradients,
            biasGradient: activation == nil ? biasGradient : nil, outputGradient: dz, input: pass.input!, weights: weights,
            batch: batch, inputs: inputs, outputs: outputs)
    }

    func preactivationGradient(_ pass: LayerActivations) -> UnsafePointer<Float> {
        UnsafePointer(activation == nil ? pass.outputGradient : pass.scratch[1])
    }
}
