public import Kernels

/// A conv branch beside the host's dense layers (issue 17's structural seed): 1–3 conv1d
/// layers of `channels` channels (ReLU) reading hidden layer `layer`'s input as a one-channel
/// signal of `inputs` positions, flattened, and a linear map V to layer `layer + 1`'s
/// pre-activation (`outputs` wide; the logits after the last hidden layer). Its input is
/// detached: no gradient flows from the branch into the layers before it (at slot-0 of an MLP
/// the input is the data, which needs none). A seed grows one (Kasmina's conv-branch
/// blueprints); fossilised — or declared in `model.branches` — it is part of the host: its
/// parameters are a host group (`host.branch-<i>`) and checkpoints carry its shape in the
/// architecture.
public struct ConvBranchShape: Sendable, Codable, Equatable {
    /// The hidden layer whose input it reads (its slot, `slot-<layer>`).
    public var layer: Int
    /// Positions of the signal (layer `layer`'s input width).
    public var inputs: Int
    public var channels: Int
    public var kernelSizes: [Int]
    public var stride: Int
    /// Zeros on each side of every conv layer's input (less than each kernel).
    public var padding: Int
    /// Width of layer `layer + 1`.
    public var outputs: Int
    /// The blueprint it grew from or was declared by (e.g. `conv-branch-16`).
    public var blueprint: String

    public init(
        layer: Int, inputs: Int, channels: Int, kernelSizes: [Int], stride: Int, padding: Int, outputs: Int, blueprint: String
    ) {
        self.layer = layer
        self.inputs = inputs
        self.channels = channels
        self.kernelSizes = kernelSizes
        self.stride = stride
        self.padding = padding
        self.outputs = outputs
        self.blueprint = blueprint
    }

    public func dimensions(batch: Int) -> ConvBranchDimensions {
        ConvBranchDimensions(
            batch: batch, length: inputs, inputChannels: 1, channels: channels, kernelSizes: kernelSizes, stride: stride,
            padding: padding, outputs: outputs)
    }

    /// Floats of W₁, b₁, …, V; 0 when the signal is too short for the kernels and strides.
    public var parameterCount: Int { Kernels.convBranchParameterCount(dimensions(batch: 1)) }

    /// Whether every conv layer has something left to read.
    public var fits: Bool { parameterCount > 0 }

    /// Floats per example of the flattened last conv output (V's fan-in).
    public var flatWidth: Int { Kernels.convBranchFlatWidth(dimensions(batch: 1)) }

    /// Multiply-adds per example of the forward: each conv layer's, then V's.
    public var multiplyAdds: (convolutions: [Int], map: Int) {
        var length = inputs, inputChannels = 1
        var convs: [Int] = []
        for kernel in kernelSizes {
            let out = max(0, (length + 2 * padding - kernel) / stride + 1)
            convs.append(out * channels * kernel * inputChannels)
            length = out
            inputChannels = channels
        }
        return (convs, flatWidth * outputs)
    }
}

/// A conv branch's computation over caller-owned parameters and gradients (the host's block
/// for a host branch, the seed's own block for a seed), with its work buffer grown to the
/// largest batch seen. Keeps the last forward's input for the backward.
public final class ConvBranchRunner {
    public let shape: ConvBranchShape
    public let parameters: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    private var work = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var capacity = 0
    private var input: UnsafePointer<Float>?
    private var batch = 0

    public init(shape: ConvBranchShape, parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>) {
        precondition(shape.fits, "a conv branch whose signal is too short for its kernels")
        self.shape = shape
        self.parameters = parameters
        self.gradients = gradients
    }

    deinit { work.deallocate() }

    /// Conv weights Kaiming-uniform from `rng`, conv biases zero; V zero (`zeroMap`: the branch
    /// adds nothing until it has learned something — a seed) or Xavier-uniform (a host branch
    /// declared from the start).
    public func initialise(_ rng: inout RandomGenerator, zeroMap: Bool) {
        var offset = 0, inputChannels = 1
        for kernel in shape.kernelSizes {
            let weights = shape.channels * kernel * inputChannels
            rng.initialiseWeights(
                parameters + offset, count: weights, fanIn: kernel * inputChannels, fanOut: kernel * shape.channels,
                scheme: .kaimingUniform)
            (parameters + offset + weights).update(repeating: 0, count: shape.channels)
            offset += weights + shape.channels
            inputChannels = shape.channels
        }
        let map = shape.outputs * shape.flatWidth
        if zeroMap {
            (parameters + offset).update(repeating: 0, count: map)
        } else {
            rng.initialiseWeights(parameters + offset, count: map, fanIn: shape.flatWidth, fanOut: shape.outputs, scheme: .xavierUniform)
        }
    }

    /// output [batch, outputs] = the branch over `x` [batch, inputs] (overwritten).
    public func forward(_ x: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, batch: Int) throws {
        let dimensions = shape.dimensions(batch: batch)
        if batch > capacity {
            work.deallocate()
            let count = Kernels.convBranchWorkCount(dimensions)
            work = .allocate(capacity: max(count, 1))
            work.initialize(repeating: 0, count: max(count, 1))
            capacity = batch
        }
        input = x
        self.batch = batch
        try Kernels.convBranchForward(output: output, work: work, input: x, parameters: parameters, dimensions: dimensions)
    }

    /// After `forward`: gradients += ∂L/∂θ given ∂L/∂output; `inputGradient` (nil: detached)
    /// = ∂L/∂x.
    public func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        guard let input else { return }
        try Kernels.convBranchBackward(
            parameterGradient: gradients, inputGradient: inputGradient, work: work, outputGradient: outputGradient, input: input,
            parameters: parameters, dimensions: shape.dimensions(batch: batch))
    }
}

/// A conv branch of the host: its runner over its group of the host's block, the layer
/// (index in `HostMLP.layers`) whose pre-activation it adds to, the one whose input it reads,
/// and the main pass's output buffer (shadow passes reuse it).
final class HostBranch {
    let shape: ConvBranchShape
    let group: ParameterGroup
    let target: Int
    let source: Int
    let runner: ConvBranchRunner
    let output: UnsafeMutablePointer<Float>

    init(shape: ConvBranchShape, group: ParameterGroup, target: Int, source: Int, maxBatch: Int) {
        self.shape = shape
        self.group = group
        self.target = target
        self.source = source
        runner = ConvBranchRunner(shape: shape, parameters: group.values, gradients: group.gradients)
        output = .allocate(capacity: maxBatch * shape.outputs)
        output.initialize(repeating: 0, count: maxBatch * shape.outputs)
    }

    deinit { output.deallocate() }
}
