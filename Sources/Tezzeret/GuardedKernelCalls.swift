import KernelRuntime

/// What the compile's kernel calls produce — the autotuner's choice and the validation gates'
/// report — computed in the watchdog's child process and sent back to the compiler as JSON.
struct GuardedKernelCalls: Codable {
    var variant: KernelVariant?
    var autotune: AutotuneResult?
    var report: ValidationReport?
    /// `autotune_disqualified` or `kernel` when the autotuner failed (the compile error's reason).
    var errorCode: String?
    var errorMessage: String?

    /// Autotune, then the gates on the chosen variant (runs in the child).
    static func run(
        id: String, spec: KernelSpec, weights: [Float], seed: UInt64, strategy: CompileStrategy, batch: Int,
        forceReference: Bool, expectedUnsafe: Bool, progress: @escaping () -> Void = {}
    ) -> GuardedKernelCalls {
        let input = ValidationGates.input(batch * spec.width, seed: seed &+ 1)
        let tuned: (KernelVariant, AutotuneResult)
        do {
            tuned = try Autotuner(strategy: strategy, batch: batch, progress: progress)
                .tune(spec: spec, weights: weights, seed: seed, input: input, forceReference: forceReference)
        } catch {
            if case .autotuneDisqualified = error.reason { return GuardedKernelCalls(errorCode: "autotune_disqualified") }
            return GuardedKernelCalls(errorCode: "kernel", errorMessage: error.description)
        }
        let kernel: CompiledKernel
        do {
            kernel = try CompiledKernel(
                blueprintId: id, spec: spec.with(variant: tuned.0), weights: weights, seed: seed, quarantined: expectedUnsafe)
        } catch {
            return GuardedKernelCalls(errorCode: "kernel", errorMessage: "\(error)")
        }
        let report = ValidationGates(batchHint: batch, inputSeed: seed &+ 1, progress: progress)
            .run(kernel, expectedUnsafe: expectedUnsafe)
        return GuardedKernelCalls(variant: tuned.0, autotune: tuned.1, report: report)
    }

    /// The kind's default variant, untimed: what an artifact records when the watchdog stopped
    /// the calls before the autotuner answered.
    static func untuned(_ spec: KernelSpec, seconds: Double) -> (KernelVariant, AutotuneResult) {
        let variant = KernelVariant.defaultVariant(for: spec.kind)
        return (
            variant,
            AutotuneResult(chosen: variant.description, candidates: [], noisy: false, durationMs: seconds * 1000)
        )
    }
}
