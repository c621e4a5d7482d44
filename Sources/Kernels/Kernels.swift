// Kernels: the one Swift face of the C numerical kernels (CKernels) — typed calls over
// caller-owned buffers with C status codes turned into errors, the PCG32 generator, the
// contiguous parameter block, and the seed-kernel interface KernelRuntime builds on. No other
// module imports CKernels (the C tests aside).
internal import CKernels

/// A C kernel refused its arguments (a caller's bug, never user input: shapes are validated
/// before any kernel runs).
public struct KernelError: Error, Sendable, CustomStringConvertible, Equatable {
    public let kernel: String
    public let status: Int32
    public var description: String {
        let reason =
            switch status {
            case -1: "a required pointer is NULL"
            case -2: "inconsistent sizes"
            case -3: "invalid scalar argument"
            case -4: "class label out of range"
            default: "status \(status)"
            }
        return "\(kernel): \(reason)"
    }
}

/// The Swift face of `CKernels`: the same functions over typed pointers, with C status codes
/// turned into `KernelError`. Thin on purpose — the hot loop calls these per batch, so no
/// allocation, no copies, no arrays. Shapes follow `ckernels.h` (row-major, `[rows, cols]`).
public enum Kernels {
    @inline(__always)
    public static func check(_ status: Int32, _ kernel: StaticString) throws(KernelError) {
        if status != 0 { throw KernelError(kernel: "\(kernel)", status: status) }
    }

    /// GEMM's thread count (our kernels' pool, or OpenBLAS without AVX2) is process-wide; Tolaria
    /// sets it once (one thread per worker by default, so concurrent runs do not oversubscribe the
    /// cores; with more, only one GEMM at a time gets the extra threads).
    public static var blasThreads: Int {
        get { Int(ck_blas_get_threads()) }
        set { ck_blas_set_threads(Int32(newValue)) }
    }

    /// out[B, nOut] = in[B, nIn] · Wᵀ (+ bias).
    public static func linearForward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        bias: UnsafePointer<Float>?, batch: Int, inputs: Int, outputs: Int
    ) throws(KernelError) {
        try check(ck_linear_forward(out, input, weights, bias, batch, inputs, outputs), "ck_linear_forward")
    }

    /// dInput = dOut · W (overwritten, optional); dW += dOutᵀ · in; dBias += colsum(dOut) (optional).
    public static func linearBackward(
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
        input: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        batch: Int, inputs: Int, outputs: Int
    ) throws(KernelError) {
        try check(
            ck_linear_backward(inputGradient, weightGradient, biasGradient, outputGradient, input, weights, batch, inputs, outputs),
            "ck_linear_backward")
    }

    /// z[B, N] += bias in place; y = act(z).
    public static func biasActivationForward(
        _ activation: Activation, y: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>,
        bias: UnsafePointer<Float>?, batch: Int, width: Int
    ) throws(KernelError) {
        try check(ck_bias_act_forward(activation.kernel, y, z, bias, batch, width), "ck_bias_act_forward")
    }

    /// dz = dy · act'(z) (overwritten); dBias += colsum(dz) (optional).
    public static func biasActivationBackward(
        _ activation: Activation, dz: UnsafeMutablePointer<Float>, biasGradient: UnsafeMutablePointer<Float>?,
        dy: UnsafePointer<Float>, z: UnsafePointer<Float>, y: UnsafePointer<Float>,
        batch: Int, width: Int
    ) throws(KernelError) {
        try check(ck_bias_act_backward(activation.kernel, dz, biasGradient, dy, z, y, batch, width), "ck_bias_act_backward")
    }

    /// Mean softmax cross-entropy over the batch; probabilities overwritten.
    public static func softmaxCrossEntropyForward(
        probabilities: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
        labels: UnsafePointer<Int32>, batch: Int, classes: Int
    ) throws(KernelError) -> Float {
        var loss: Float = 0
        try check(ck_softmax_ce_forward(&loss, probabilities, logits, labels, batch, classes), "ck_softmax_ce_forward")
        return loss
    }

    /// dLogits = (probabilities − onehot) / B: the gradient of the mean loss.
    public static func softmaxCrossEntropyBackward(
        logitsGradient: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>,
        labels: UnsafePointer<Int32>, batch: Int, classes: Int
    ) throws(KernelError) {
        try check(ck_softmax_ce_backward(logitsGradient, probabilities, labels, batch, classes), "ck_softmax_ce_backward")
    }

    /// Rows whose argmax equals the label.
    public static func countCorrect(scores: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int) -> Int {
        Int(ck_count_correct(scores, labels, batch, classes))
    }

    public static func adamStep(
        parameters: UnsafeMutablePointer<Float>, m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
        gradient: UnsafePointer<Float>, count: Int, learningRate: Float, beta1: Float, beta2: Float,
        epsilon: Float, weightDecay: Float, step: Int64, decoupled: Bool
    ) throws(KernelError) {
        if decoupled {
            try check(
                ck_adamw_step(parameters, m, v, gradient, count, learningRate, beta1, beta2, epsilon, weightDecay, step), "ck_adamw_step")
        } else {
            try check(
                ck_adam_step(parameters, m, v, gradient, count, learningRate, beta1, beta2, epsilon, weightDecay, step), "ck_adam_step")
        }
    }

    public static func sgdStep(
        parameters: UnsafeMutablePointer<Float>, velocity: UnsafeMutablePointer<Float>?, gradient: UnsafePointer<Float>,
        count: Int, learningRate: Float, momentum: Float, weightDecay: Float
    ) throws(KernelError) {
        try check(ck_sgd_step(parameters, velocity, gradient, count, learningRate, momentum, weightDecay), "ck_sgd_step")
    }

    /// √(Σ‖g‖²) over several buffers (accumulated in double).
    public static func globalNorm(_ buffers: UnsafePointer<UnsafePointer<Float>?>, lengths: UnsafePointer<Int>, count: Int) -> Float {
        ck_global_l2_norm(buffers, lengths, count)
    }

    /// Scales the buffers so their global norm is at most `maxNorm`; returns the norm before.
    public static func clipByGlobalNorm(
        _ buffers: UnsafePointer<UnsafeMutablePointer<Float>?>, lengths: UnsafePointer<Int>, count: Int,
        maxNorm: Float
    ) -> Float {
        ck_clip_by_global_norm(buffers, lengths, count, maxNorm)
    }

    /// z = conv(x, W) + bias (bias optional), y = act(z); `columns` receives the im2col matrix
    /// the backward needs. Channels-last: x[batch, length, inputChannels].
    public static func conv1dForward(
        y: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>, columns: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, weights: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        activation: Activation, dimensions: Conv1DDimensions
    ) throws(KernelError) {
        var dims = dimensions.kernel
        try check(ck_conv1d_forward(y, z, columns, input, weights, bias, activation.kernel, &dims), "ck_conv1d_forward")
    }

    /// From dy: dz (scratch) = dy · act'(z); dW += ∂L/∂W; dBias += ∂L/∂bias (optional);
    /// dx = ∂L/∂x (overwritten; optional, and then `inputColumnsGradient` may be nil too).
    public static func conv1dBackward(
        inputGradient: UnsafeMutablePointer<Float>?, weightGradient: UnsafeMutablePointer<Float>,
        biasGradient: UnsafeMutablePointer<Float>?, dz: UnsafeMutablePointer<Float>,
        inputColumnsGradient: UnsafeMutablePointer<Float>?, outputGradient: UnsafePointer<Float>,
        z: UnsafePointer<Float>, y: UnsafePointer<Float>, columns: UnsafePointer<Float>, weights: UnsafePointer<Float>,
        activation: Activation, dimensions: Conv1DDimensions
    ) throws(KernelError) {
        var dims = dimensions.kernel
        try check(
            ck_conv1d_backward(
                inputGradient, weightGradient, biasGradient, dz, inputColumnsGradient, outputGradient, z, y, columns, weights,
                activation.kernel, &dims),
            "ck_conv1d_backward")
    }
}

/// The shape of one conv1d call (`ck_conv1d_dims`): x[batch, length, inputChannels],
/// W[outputChannels, kernelSize, inputChannels], zero padding on each side.
public struct Conv1DDimensions: Sendable, Equatable {
    public var batch, inputChannels, length, outputChannels, kernelSize, stride, padLeft, padRight: Int

    public init(
        batch: Int, inputChannels: Int, length: Int, outputChannels: Int, kernelSize: Int, stride: Int, padLeft: Int, padRight: Int
    ) {
        self.batch = batch
        self.inputChannels = inputChannels
        self.length = length
        self.outputChannels = outputChannels
        self.kernelSize = kernelSize
        self.stride = stride
        self.padLeft = padLeft
        self.padRight = padRight
    }

    var kernel: ck_conv1d_dims {
        ck_conv1d_dims(
            batch: batch, in_channels: inputChannels, length: length, out_channels: outputChannels, kernel: kernelSize,
            stride: stride, pad_left: padLeft, pad_right: padRight)
    }
}

extension Activation {
    var kernel: ck_activation {
        switch self {
        case .identity: CK_ACT_IDENTITY
        case .relu: CK_ACT_RELU
        case .gelu: CK_ACT_GELU
        case .tanh: CK_ACT_TANH
        }
    }
}
