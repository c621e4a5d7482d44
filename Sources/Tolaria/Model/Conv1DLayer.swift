internal import CKernels

/// A conv1d layer over channels-last signals (`ck_conv1d_forward` / `_backward`): weights
/// `[channels, kernel, inputChannels]` then the bias, one group of the host's block; its
/// activation is applied in the same kernel. Its input is the data or another conv layer's
/// output; no seed slot follows it (yet), so it takes no pre-activation hook.
final class Conv1DLayer: HostLayer {
    let shape: Conv1DLayerShape
    let scheme: WeightInitialisation
    let parameters: ParameterGroup
    private var dims: ck_conv1d_dims

    init(shape: Conv1DLayerShape, scheme: WeightInitialisation, parameters: ParameterGroup) {
        precondition(shape.outputLength > 0 && parameters.count == shape.parameterCount)
        self.shape = shape
        self.scheme = scheme
        self.parameters = parameters
        dims = ck_conv1d_dims(
            batch: 0, in_channels: shape.inputChannels, length: shape.inputLength, out_channels: shape.channels,
            kernel: shape.kernelSize, stride: shape.stride, pad_left: shape.padLeft, pad_right: shape.padRight)
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
        try Kernels.check(
            ck_conv1d_forward(pass.output, pass.scratch[0], pass.scratch[1], input, weights, bias, shape.activation.kernel, &dims),
            "ck_conv1d_forward")
        return UnsafePointer(pass.output)
    }

    func backward(
        _ pass: LayerActivations, inputGradient: UnsafeMutablePointer<Float>?, _ step: LayerStep, hook: PreactivationHook,
        toPreactivation: Bool
    ) throws {
        precondition(step.discard == nil && !toPreactivation, "a conv1d layer is never part of a shadow pass")
        dims.batch = step.batch
        let gradients = parameters.gradients
        try Kernels.check(
            ck_conv1d_backward(
                inputGradient, gradients, gradients + shape.weightCount, pass.scratch[2], inputGradient == nil ? nil : pass.scratch[3],
                pass.outputGradient, pass.scratch[0], pass.output, pass.scratch[1], weights, shape.activation.kernel, &dims),
            "ck_conv1d_backward")
    }

    func preactivationGradient(_ pass: LayerActivations) -> UnsafePointer<Float> { UnsafePointer(pass.scratch[2]) }
}
