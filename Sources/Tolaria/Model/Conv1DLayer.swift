import Kernels

/// A conv1d layer over channels-last signals (`ck_conv1d_forward` / `_backward`): weights
/// `[channels, kernel, inputChannels]` then the bias, one group of the host's block; its
/// activation is applied in the same kernel. Its input is the data or another conv layer's
/// output; no seed slot follows it (yet), so it takes no pre-activation hook.
final class Conv1DLayer: HostLayer {
    let shape: Conv1DLayerShape
    let scheme: WeightInitialisation
    let parameters: ParameterGroup
    private var dims: Conv1DDimensions

    init(shape: Conv1DLayerShape, scheme: WeightInitialisation, parameters: ParameterGroup) {
        precondition(shape.outputLength > 0 && parameters.count == shape.parameterCount)
        self.shape = shape
        self.scheme = scheme
        self.parameters = parameters
        dims = Conv1DDimensions(
            batch: 0, inputChannels: shape.inputChannels, length: shape.inputLength, outputChannels: shape.channels,
            kernelSize: shape.kernelSize, stride: shape.stride, padLeft: shape.padLeft, padRight: shape.padRight)
    }

    var inputWidth: Int { shape.inputWidth }
    var outputWidth: Int { shape.outputWidth }
    var group: ParameterGroup? { parameters }
    /// z, the im2col matrix, ∂L/∂z and ∂L/∂cols.
    var scratchWidths: [Int] {
        let columns = shape.outputLength * shape.kernelSize * shape.inputChannels
        return [shape.outputWidth, columns, shape.outputWidth, columns]
    }
    var weights: UnsafeMutablePointer<Float> { parameters.values }
    var bias: UnsafeMutablePointer<Float> { parameters.values + shape.weightCount }

    func initialise(_ rng: inout RandomGenerator) {
        rng.initialiseWeights(
            weights, count: shape.weightCount, fanIn: shape.kernelSize * shape.inputChannels,
            fanOut: shape.kernelSize * shape.channels, scheme: scheme)
        bias.update(repeating: 0, count: shape.channels)
    }

    func forward(
        _ input: UnsafePointer<Float>, _ pass: LayerActivations, _ step: LayerStep, hook: PreactivationHook
    ) throws
        -> UnsafePointer<Float>
    {
        guard case .none = hook else { preconditionFailure("a conv1d layer takes no pre-activation hook") }
        pass.input = input
        dims.batch = step.batch
        try Kernels.conv1dForward(
            y: pass.output, z: pass.scratch[0], columns: pass.scratch[1], input: input, weights: weights, bias: bias,
            activation: shape.activation, dimensions: dims)
        return UnsafePointer(pass.output)
    }

    func backward(
        _ pass: LayerActivations, inputGradient: UnsafeMutablePointer<Float>?, _ step: LayerStep, hook: PreactivationHook,
        toPreactivation: Bool
    ) throws {
        precondition(!toPreactivation, "a conv1d layer has no pre-activation hook")
        dims.batch = step.batch
        let gradients = parameters.gradients
        // A shadow pass holds the host fixed: the weight gradient goes to the discard buffer.
        try Kernels.conv1dBackward(
            inputGradient: inputGradient, weightGradient: step.discard ?? gradients,
            biasGradient: step.discard == nil ? gradients + shape.weightCount : nil,
            dz: pass.scratch[2], inputColumnsGradient: inputGradient == nil ? nil : pass.scratch[3],
            outputGradient: pass.outputGradient, z: pass.scratch[0], y: pass.output, columns: pass.scratch[1],
            weights: weights, activation: shape.activation, dimensions: dims)
    }

    func preactivationGradient(_ pass: LayerActivations) -> UnsafePointer<Float> { UnsafePointer(pass.scratch[2]) }
}
