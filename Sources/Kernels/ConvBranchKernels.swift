internal import CKernels

/// The conv-branch seed's kernels (`seed_conv_branch.c`): 1–3 conv1d layers (ReLU) over a
/// channels-last signal, flattened, and a linear map to `outputs` (a host layer's
/// pre-activation). Parameters W₁, b₁, …, W_L, b_L, V in one buffer in that order.
public struct ConvBranchDimensions: Sendable, Equatable {
    /// The most conv layers a branch has.
    public static let maxLayers = Int(CK_CONV_BRANCH_MAX_LAYERS)

    public var batch, length, inputChannels, channels, stride, padding, outputs: Int
    public var kernelSizes: [Int]

    public init(
        batch: Int, length: Int, inputChannels: Int, channels: Int, kernelSizes: [Int], stride: Int, padding: Int, outputs: Int
    ) {
        self.batch = batch
        self.length = length
        self.inputChannels = inputChannels
        self.channels = channels
        self.kernelSizes = kernelSizes
        self.stride = stride
        self.padding = padding
        self.outputs = outputs
    }

    var kernel: ck_conv_branch_shape {
        let sizes = kernelSizes.map { max($0, 0) } + [0, 0, 0]
        let fits = (1...ConvBranchDimensions.maxLayers).contains(kernelSizes.count)
        return ck_conv_branch_shape(
            batch: max(batch, 0), length: max(length, 0), in_channels: max(inputChannels, 0), channels: max(channels, 0),
            layers: fits ? kernelSizes.count : 0, stride: max(stride, 0), padding: max(padding, 0), outputs: max(outputs, 0),
            kernels: (sizes[0], sizes[1], sizes[2]))
    }
}

extension Kernels {
    /// Floats of the branch's parameters; 0 when the shape leaves a layer nothing to read.
    public static func convBranchParameterCount(_ dimensions: ConvBranchDimensions) -> Int {
        var shape = dimensions.kernel
        return ck_conv_branch_param_count(&shape)
    }

    /// Floats per example of the flattened last conv output; 0 when the shape does not fit.
    public static func convBranchFlatWidth(_ dimensions: ConvBranchDimensions) -> Int {
        var shape = dimensions.kernel
        return ck_conv_branch_flat_width(&shape)
    }

    /// Floats of the work buffer for `dimensions.batch` rows.
    public static func convBranchWorkCount(_ dimensions: ConvBranchDimensions) -> Int {
        var shape = dimensions.kernel
        return ck_conv_branch_work_count(&shape)
    }

    /// output [batch, outputs] = the branch over `input` (overwritten); `work` keeps what the
    /// backward needs.
    public static func convBranchForward(
        output: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        parameters: UnsafePointer<Float>, dimensions: ConvBranchDimensions
    ) throws(KernelError) {
        var shape = dimensions.kernel
        try check(ck_conv_branch_forward(output, work, input, parameters, &shape), "ck_conv_branch_forward")
    }

    /// After the forward on the same input: parameterGradient += ∂L/∂θ; inputGradient
    /// (optional) = ∂L/∂input (overwritten).
    public static func convBranchBackward(
        parameterGradient: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        work: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        parameters: UnsafePointer<Float>, dimensions: ConvBranchDimensions
    ) throws(KernelError) {
        var shape = dimensions.kernel
        try check(
            ck_conv_branch_backward(parameterGradient, inputGradient, work, outputGradient, input, parameters, &shape),
            "ck_conv_branch_backward")
    }
}
