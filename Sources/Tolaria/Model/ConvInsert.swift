import Kernels

/// A conv1d layer inserted after a host conv layer (issue 17's depth growth): over the conv
/// layer's output h (`[length, channels]` per example, channels-last) it computes
/// `out = h + conv(h)` — same channels, odd kernel, stride 1, 'same' padding (`(k−1)/2` zeros
/// each side), no activation. Residual, so with zero weights and bias it is the identity: a
/// seed grows one (Kasmina's `depth` blueprints, `conv-insert-3`) adding α·conv(h) to h, and
/// fossilised it is part of the host (`HostArchitecture.insertions`, group `host.insert-<i>`)
/// computing exactly what the seed added at α = 1.
public struct ConvInsertShape: Sendable, Codable, Equatable {
    /// The declared conv layer (index in `HostArchitecture.convolutions`) it follows; its seed
    /// grew in `conv-slot-<after>`.
    public var after: Int
    /// Positions and channels of h (the conv layer's output).
    public var length: Int
    public var channels: Int
    public var kernelSize: Int
    /// The blueprint it grew from (e.g. `conv-insert-3`).
    public var blueprint: String

    public init(after: Int, length: Int, channels: Int, kernelSize: Int, blueprint: String) {
        self.after = after
        self.length = length
        self.channels = channels
        self.kernelSize = kernelSize
        self.blueprint = blueprint
    }

    /// Floats per example in and out.
    public var width: Int { length * channels }
    /// W `[channels, kernel, channels]` then the bias.
    public var weightCount: Int { channels * kernelSize * channels }
    public var parameterCount: Int { weightCount + channels }
    /// Multiply-adds per example of the convolution.
    public var multiplyAdds: Int { length * channels * kernelSize * channels }
    /// An odd kernel over a signal with at least one position keeps its length under 'same' padding.
    public var fits: Bool { after >= 0 && length > 0 && channels > 0 && kernelSize > 0 && kernelSize % 2 == 1 }

    func dimensions(batch: Int) -> Conv1DDimensions {
        let pad = (kernelSize - 1) / 2
        return Conv1DDimensions(
            batch: batch, inputChannels: channels, length: length, outputChannels: channels, kernelSize: kernelSize, stride: 1,
            padLeft: pad, padRight: pad)
    }

    /// Im2col floats per example.
    var columnWidth: Int { length * kernelSize * channels }

    /// s [batch, width] = conv(h) + b (overwritten), keeping z (= s) and the im2col matrix for
    /// the backward. The one call both the host layer and the seed make: same dimensions, same
    /// kernel, the same floats.
    func convolve(
        _ h: UnsafePointer<Float>, into s: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>,
        columns: UnsafeMutablePointer<Float>, parameters: UnsafePointer<Float>, batch: Int
    ) throws {
        try Kernels.conv1dForward(
            y: s, z: z, columns: columns, input: h, weights: parameters, bias: parameters + weightCount, activation: .identity,
            dimensions: dimensions(batch: batch))
    }

    /// After `convolve`: ∂L/∂W into `weightGradient` and ∂L/∂b into `biasGradient` (nil: not
    /// computed) from ∂L/∂s; `inputGradient` (nil: detached) = ∂L/∂h through the convolution
    /// only (`dcolumns` is its scratch).
    func convolveBackward(
        _ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        weightGradient: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?, dz: UnsafeMutablePointer<Float>,
        dcolumns: UnsafeMutablePointer<Float>, z: UnsafePointer<Float>, columns: UnsafePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int
    ) throws {
        try Kernels.conv1dBackward(
            inputGradient: inputGradient, weightGradient: weightGradient, biasGradient: biasGradient, dz: dz,
            inputColumnsGradient: inputGradient == nil ? nil : dcolumns, outputGradient: outputGradient, z: z, y: z,
            columns: columns, weights: parameters, activation: .identity, dimensions: dimensions(batch: batch))
    }
}

/// A seed's inserted convolution, `s = conv(h) + b` (the slot adds h + α·s), over its own
/// parameter block, with buffers grown to the largest batch seen; it keeps the last forward's
/// im2col matrix for the backward.
public final class ConvInsertRunner {
    public let shape: ConvInsertShape
    public let parameters: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    // z, im2col columns, dz, ∂L/∂columns.
    private var buffers: [UnsafeMutablePointer<Float>] = []
    private var capacity = 0
    private var batch = 0

    public init(shape: ConvInsertShape, parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        precondition(shape.fits, "an inserted conv needs an odd kernel over a signal")
        self.shape = shape
        self.parameters = parameters
        self.gradients = gradients
    }

    deinit {
        for pointer in buffers { pointer.deallocate() }
    }

    /// Weights and bias zero: s = 0, the layer is the identity.
    public func initialiseToIdentity() {
        parameters.update(repeating: 0, count: shape.parameterCount)
    }

    /// s [batch, width] = conv(h) + b (overwritten).
    public func forward(_ h: UnsafePointer<Float>, into s: UnsafeMutablePointer<Float>, batch: Int) throws {
        if batch > capacity {
            for pointer in buffers { pointer.deallocate() }
            buffers = [shape.width, shape.columnWidth, shape.width, shape.columnWidth].map { width in
                let pointer = UnsafeMutablePointer<Float>.allocate(capacity: batch * width)
                pointer.initialize(repeating: 0, count: batch * width)
                return pointer
            }
            capacity = batch
        }
        self.batch = batch
        try shape.convolve(h, into: s, z: buffers[0], columns: buffers[1], parameters: parameters, batch: batch)
    }

    /// After `forward`: gradients += ∂L/∂θ given ∂L/∂s; `inputGradient` (nil: detached) = ∂L/∂h.
    public func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        guard batch > 0 else { return }
        try shape.convolveBackward(
            outputGradient, inputGradient: inputGradient, weightGradient: gradients, biasGradient: gradients + shape.weightCount,
            dz: buffers[2], dcolumns: buffers[3], z: buffers[0], columns: buffers[1], parameters: parameters, batch: batch)
    }
}

/// An inserted conv layer of the host (`HostArchitecture.insertions`): `out = h + s`,
/// `s = conv(h) + b`; the backward is `∂L/∂h = δ + convᵀ(δ)`. Its group comes after the dense
/// layers and branches in the block (it joined later); it draws nothing from the run's
/// initialisation stream (a fresh host starts it at the identity), so the other layers start
/// as they would without it.
final class ConvInsertLayer: HostLayer {
    let shape: ConvInsertShape
    let parameters: ParameterGroup

    init(shape: ConvInsertShape, parameters: ParameterGroup) {
        precondition(shape.fits && parameters.count == shape.parameterCount)
        self.shape = shape
        self.parameters = parameters
    }

    var inputWidth: Int { shape.width }
    var outputWidth: Int { shape.width }
    var group: ParameterGroup? { parameters }
    /// s, z, the im2col matrix, dz, ∂L/∂columns (per pass: a shadow pass must not overwrite
    /// what the main pass's backward reads).
    var scratchWidths: [Int] { [shape.width, shape.width, shape.columnWidth, shape.width, shape.columnWidth] }

    func initialise(_ rng: inout RandomGenerator) { parameters.values.update(repeating: 0, count: shape.parameterCount) }

    func forward(
        _ input: UnsafePointer<Float>, _ pass: LayerActivations, _ step: LayerStep, hook: PreactivationHook
    ) throws
        -> UnsafePointer<Float>
    {
        guard case .none = hook else { preconditionFailure("an inserted conv layer takes no pre-activation hook") }
        pass.input = input
        let s = pass.scratch[0]
        try shape.convolve(input, into: s, z: pass.scratch[1], columns: pass.scratch[2], parameters: parameters.values, batch: step.batch)
        for i in 0..<(step.batch * shape.width) { pass.output[i] = input[i] + s[i] }
        return UnsafePointer(pass.output)
    }

    func backward(
        _ pass: LayerActivations, inputGradient: UnsafeMutablePointer<Float>?, _ step: LayerStep, hook: PreactivationHook,
        toPreactivation: Bool
    ) throws {
        precondition(!toPreactivation, "an inserted conv layer has no pre-activation")
        // A shadow pass holds the host fixed: the weight gradient goes to the discard buffer.
        try shape.convolveBackward(
            pass.outputGradient, inputGradient: inputGradient, weightGradient: step.discard ?? parameters.gradients,
            biasGradient: step.discard == nil ? parameters.gradients + shape.weightCount : nil, dz: pass.scratch[3],
            dcolumns: pass.scratch[4], z: pass.scratch[1], columns: pass.scratch[2], parameters: parameters.values, batch: step.batch)
        guard let inputGradient else { return }
        for i in 0..<(step.batch * shape.width) { inputGradient[i] += pass.outputGradient[i] }
    }

    func preactivationGradient(_ pass: LayerActivations) -> UnsafePointer<Float> { UnsafePointer(pass.outputGradient) }
}
