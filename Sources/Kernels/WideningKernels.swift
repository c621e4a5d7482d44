internal import CKernels

/// The widening seed's kernels (`seed_widen.c`): `units` new hidden units beside a host layer,
/// parameters U [units, inputs], c [units], V [outputs, units] in one buffer in that order.
extension Kernels {
    /// Floats of U, c and V.
    public static func wideningParameterCount(inputs: Int, units: Int, outputs: Int) -> Int {
        ck_widen_param_count(inputs, units, outputs)
    }

    /// hidden [batch, units] = relu(x Uᵀ + c), output [batch, outputs] = hidden Vᵀ (both overwritten).
    public static func wideningForward(
        output: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        parameters: UnsafePointer<Float>, batch: Int, inputs: Int, units: Int, outputs: Int
    ) throws(KernelError) {
        try check(ck_widen_forward(output, hidden, input, parameters, batch, inputs, units, outputs), "ck_widen_forward")
    }

    /// parameterGradient += ∂L/∂θ from outputGradient; inputGradient (optional) = ∂L/∂x
    /// (overwritten); hiddenGradient is batch × units floats of scratch.
    public static func wideningBackward(
        parameterGradient: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
        hiddenGradient: UnsafeMutablePointer<Float>, outputGradient: UnsafePointer<Float>, input: UnsafePointer<Float>,
        hidden: UnsafePointer<Float>, parameters: UnsafePointer<Float>, batch: Int, inputs: Int, units: Int, outputs: Int
    ) throws(KernelError) {
        try check(
            ck_widen_backward(
                parameterGradient, inputGradient, hiddenGradient, outputGradient, input, hidden, parameters, batch, inputs, units,
                outputs),
            "ck_widen_backward")
    }
}
