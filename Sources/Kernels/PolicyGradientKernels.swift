internal import CKernels

/// The policy-gradient kernels (`policy_gradient.c`): masked softmax over a policy's action
/// logits, the PPO clipped surrogate and the logits' gradient. Rows are decisions, columns
/// actions; `mask` bit `a` of row `r` allows action `a`.
extension Kernels {
    /// logProbabilities, probabilities [batch, actions] and entropy [batch] (all overwritten) of
    /// the softmax over each row's allowed actions; disallowed entries get 0.
    public static func maskedLogSoftmax(
        logProbabilities: UnsafeMutablePointer<Float>, probabilities: UnsafeMutablePointer<Float>,
        entropy: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>, mask: UnsafePointer<UInt32>, batch: Int, actions: Int
    ) throws(KernelError) {
        try check(
            ck_masked_log_softmax(logProbabilities, probabilities, entropy, logits, mask, batch, actions), "ck_masked_log_softmax")
    }

    /// −mean min(r·A, clip(r, 1 ± ε)·A) with r = exp(new − old); `coefficients[b]` (overwritten)
    /// = ∂loss/∂logpNew[b]; `clipped` counts the rows whose clipped term was the minimum.
    public static func ppoSurrogate(
        coefficients: UnsafeMutablePointer<Float>, clipped: UnsafeMutablePointer<Int>?, logpNew: UnsafePointer<Float>,
        logpOld: UnsafePointer<Float>, advantages: UnsafePointer<Float>, epsilon: Float, batch: Int
    ) throws(KernelError) -> Float {
        var loss: Float = 0
        try check(ck_ppo_surrogate(&loss, coefficients, clipped, logpNew, logpOld, advantages, epsilon, batch), "ck_ppo_surrogate")
        return loss
    }

    /// logitsGradient [batch, actions] (overwritten) of Σ coefficients[b]·logp[b, actions[b]] +
    /// entropyWeight·Σ H_b, from `maskedLogSoftmax`'s outputs.
    public static func policyLogitsBackward(
        logitsGradient: UnsafeMutablePointer<Float>, probabilities: UnsafePointer<Float>, logProbabilities: UnsafePointer<Float>,
        entropy: UnsafePointer<Float>, actions: UnsafePointer<Int32>, coefficients: UnsafePointer<Float>, entropyWeight: Float,
        mask: UnsafePointer<UInt32>, batch: Int, actionCount: Int
    ) throws(KernelError) {
        try check(
            ck_policy_logits_backward(
                logitsGradient, probabilities, logProbabilities, entropy, actions, coefficients, entropyWeight, mask, batch, actionCount),
            "ck_policy_logits_backward")
    }
}
