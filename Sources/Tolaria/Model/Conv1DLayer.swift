import Kernels

/// One layer of a host's input stage: one forward and one backward over a batch, its
/// parameters a slice of the host's `ParameterBlock`, its activations in buffers allocated
/// once for the largest batch. The input stage runs before the dense layers; a later seed
/// can attach at its input (the raw signal) or between its layers.
protocol HostLayer: AnyObject {
    /// Floats per example read and written.
    var inputWidth: Int { get }
    var outputWidth: Int { get }
    /// The layer's output for `batch` rows of `input` (valid until the next forward).
    func forward(_ input: UnsafePointer<Float>, batch: Int) throws -> UnsafePointer<Float>
    /// Accumulates the parameter gradients of the last forward from ∂L/∂output and writes
    /// ∂L/∂input (nil: not needed, the layer reads the data).
    func backward(outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?, batch: Int) throws
    /// ∂L/∂output, filled by the next layer's backward (or the dense layers').
    var outputGradient: UnsafeMutablePointer<Float> { get }
}

/// A conv1d layer over channels-last signals (`ck_conv1d_forward` / `_backward`): weights
/// `[channels, kernel, inputChannels]` then the bias, at `offset` in the block.
final class Conv1DLayer: HostLayer {
    let shape: Conv1DLayerShape
    let block: ParameterBlock
    let offset: Int
    private var dims: Conv1DDimensions
    private let z, y, cols, dz, dcols, dOutput: UnsafeMutablePointer<Float>
    private var input: UnsafePointer<Float>?

    init(shape: Conv1DLayerShape, block: ParameterBlock, offset: Int, maxBatch: Int) {
        precondition(shape.outputLength > 0 && offset + shape.parameterCount <= block.count)
        self.shape = shape
        self.block = block
        self.offset = offset
        dims = Conv1DDimensions(
            batch: maxBatch, inputChannels: shape.inputChannels, length: shape.inputLength, outputChannels: shape.channels,
            kernelSize: shape.kernelSize, stride: shape.stride, padLeft: shape.padLeft, padRight: shape.padRight)
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        let outputs = maxBatch * shape.outputWidth
        let columns = maxBatch * shape.outputLength * shape.kernelSize * shape.inputChannels
        z = buffer(outputs)
        y = buffer(outputs)
        dz = buffer(outputs)
        dOutput = buffer(outputs)
        cols = buffer(columns)
        dcols = buffer(columns)
    }

    deinit {
        for pointer in [z, y, cols, dz, dcols, dOutput] { pointer.deallocate() }
    }

    var inputWidth: Int { shape.inputWidth }
    var outputWidth: Int { shape.outputWidth }
    var outputGradient: UnsafeMutablePointer<Float> { dOutput }
    var weights: UnsafeMutablePointer<Float> { block.values + offset }
    var bias: UnsafeMutablePointer<Float> { block.values + offset + shape.weightCount }

    func forward(_ input: UnsafePointer<Float>, batch: Int) throws -> UnsafePointer<Float> {
        self.input = input
        dims.batch = batch
        try Kernels.conv1dForward(
            y: y, z: z, columns: cols, input: input, weights: weights, bias: bias, activation: shape.activation, dimensions: dims)
        return UnsafePointer(y)
    }

    func backward(outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?, batch: Int) throws {
        dims.batch = batch
        let gradients = block.gradients + offset
        try Kernels.conv1dBackward(
            inputGradient: inputGradient, weightGradient: gradients, biasGradient: gradients + shape.weightCount, dz: dz,
            inputColumnsGradient: inputGradient == nil ? nil : dcols, outputGradient: outputGradient,
            z: z, y: y, columns: cols, weights: weights, activation: shape.activation, dimensions: dims)
    }
}
