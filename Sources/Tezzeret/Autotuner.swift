import KernelRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// One candidate's outcome in the autotune record.
public struct CandidateTiming: Sendable, Codable, Equatable {
    public var variant: String
    public var medianUs: Double?
    public var cv: Double?
    public var runs: Int
    /// Why it was not eligible (disagreed with the reference, failed, out of budget).
    public var disqualified: String?
}

/// What the autotuner chose and why.
public struct AutotuneResult: Sendable, Codable, Equatable {
    public var chosen: String
    public var candidates: [CandidateTiming]
    public var noisy: Bool
    public var durationMs: Double
}

/// Picks the fastest kernel variant (06 §5): every candidate must first agree with the
/// reference variant (max|Δ| ≤ 1e-4 · max(1, max|ref|)); then 2 warm-up and N timed forward
/// runs on [batch, d] (CLOCK_MONOTONIC), scored by the median. Medians within 3 % prefer the
/// smaller tile (a stable choice). A candidate whose timings vary more than CV 0.18 is timed
/// again with 2N runs; if still noisy, the kind's default variant is used and flagged.
struct Autotuner {
    static let noiseLimit = 0.18
    static let tieTolerance = 0.03

    let strategy: CompileStrategy
    let batch: Int
    /// Called between steps (after the reference run and after each candidate): the
    /// watchdog's heartbeat.
    var progress: () -> Void = {}
    /// The strategy's wall budget unless overridden (tests).
    var budgetSeconds: Double?

    /// - Parameter forceReference: after an attempt where every candidate was disqualified,
    ///   the retry uses the reference (naive) variant without tuning (06 §9).
    func tune(
        spec: KernelSpec, weights: [Float], seed: UInt64, input: [Float], forceReference: Bool
    )
        throws(CompileError) -> (KernelVariant, AutotuneResult)
    {
        let started = Autotuner.monotonic()
        let defaultVariant = KernelVariant.defaultVariant(for: spec.kind)
        var candidates = KernelVariant.candidates(for: spec.kind)
        if strategy == .aggressive && spec.kind.variantFamily == .matmul {
            candidates += [.tiled(m: 64, n: 64, k: 512), .tiled(m: 128, n: 128, k: 256)]
        }
        if forceReference { candidates = [KernelVariant.reference(for: spec.kind)] }
        if strategy == .emergency && !forceReference { candidates = [defaultVariant] }
        if strategy == .fast { candidates = Array(candidates.prefix(2)) }
        guard candidates.count > 1 else {
            let only = candidates[0]
            return (
                only,
                AutotuneResult(
                    chosen: only.description,
                    candidates: [CandidateTiming(variant: only.description, runs: 0)],
                    noisy: false, durationMs: (Autotuner.monotonic() - started) * 1000)
            )
        }

        let reference: [Float]
        do {
            reference = try Autotuner.run(spec.with(variant: .reference(for: spec.kind)), weights, seed, input, batch)
        } catch {
            throw CompileError("", .kernel("the reference variant failed: \(error)"))
        }
        progress()
        let scale = max(1, reference.reduce(Float(0)) { max($0, abs($1)) })
        var timings: [CandidateTiming] = []
        var eligible: [(variant: KernelVariant, median: Double, noisy: Bool)] = []
        let deadline = started + (budgetSeconds ?? strategy.autotuneBudgetSeconds)
        for variant in candidates {
            var timing = CandidateTiming(variant: variant.description, runs: 0)
            defer {
                timings.append(timing)
                progress()
            }
            guard Autotuner.monotonic() < deadline else {
                timing.disqualified = "autotune budget spent"
                continue
            }
            let variantSpec = spec.with(variant: variant)
            guard let kernel = try? CompiledKernel(blueprintId: "", spec: variantSpec, weights: weights, seed: seed),
                let instance = try? kernel.instantiate()
            else {
                timing.disqualified = "invalid for this kind"
                continue
            }
            instance.step = 1
            guard let output = try? instance.forward(input, batch: batch) else {
                timing.disqualified = "forward failed"
                continue
            }
            let delta = zip(output, reference).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
            guard delta <= 1e-4 * scale else {
                timing.disqualified = "max |delta| \(delta) vs reference"
                continue
            }
            var samples = Autotuner.time(instance, input: input, batch: batch, runs: strategy.timedRuns)
            var cv = Autotuner.cv(samples)
            if cv > Autotuner.noiseLimit {
                samples = Autotuner.time(instance, input: input, batch: batch, runs: 2 * strategy.timedRuns)
                cv = Autotuner.cv(samples)
            }
            let median = Autotuner.median(samples)
            timing.medianUs = median * 1e6
            timing.cv = cv
            timing.runs = samples.count
            eligible.append((variant, median, cv > Autotuner.noiseLimit))
        }
        guard let chosen = Autotuner.choose(eligible, defaultVariant: defaultVariant) else {
            throw CompileError("", .autotuneDisqualified)
        }
        let noisy = eligible.contains { $0.noisy }
        return (
            chosen,
            AutotuneResult(
                chosen: chosen.description, candidates: timings, noisy: noisy,
                durationMs: (Autotuner.monotonic() - started) * 1000)
        )
    }

    /// The rule of the choice: the fastest median, or — among medians within `tieTolerance`
    /// of it — the smallest tile; the kind's default when any timing stayed noisy (and the
    /// default is eligible). Nil when nothing is eligible.
    static func choose(
        _ eligible: [(variant: KernelVariant, median: Double, noisy: Bool)], defaultVariant: KernelVariant
    )
        -> KernelVariant?
    {
        guard let fastest = eligible.min(by: { $0.median < $1.median }) else { return nil }
        if eligible.contains(where: { $0.noisy }) && eligible.contains(where: { $0.variant == defaultVariant }) {
            return defaultVariant
        }
        return eligible.filter { $0.median <= fastest.median * (1 + Autotuner.tieTolerance) }
            .min { Autotuner.tileVolume($0.variant) < Autotuner.tileVolume($1.variant) }!.variant
    }

    /// Forward once with a fresh instance (training mode, fixed step).
    static func run(_ spec: KernelSpec, _ weights: [Float], _ seed: UInt64, _ input: [Float], _ batch: Int) throws -> [Float] {
        let instance = try CompiledKernel(blueprintId: "", spec: spec, weights: weights, seed: seed).instantiate()
        instance.step = 1
        return try instance.forward(input, batch: batch)
    }

    /// Seconds per forward: 2 warm-ups, then `runs` timed calls over caller-owned buffers.
    static func time(_ instance: SeedKernel, input: [Float], batch: Int, runs: Int) -> [Double] {
        var output = [Float](repeating: 0, count: input.count)
        var samples: [Double] = []
        input.withUnsafeBufferPointer { x in
            output.withUnsafeMutableBufferPointer { y in
                for run in 0..<(runs + 2) {
                    let t0 = monotonic()
                    _ = try? instance.forward(x.baseAddress!, into: y.baseAddress!, batch: batch)
                    if run >= 2 { samples.append(monotonic() - t0) }
                }
            }
        }
        return samples
    }

    static func tileVolume(_ variant: KernelVariant) -> Int {
        if case .tiled(let m, let n, let k) = variant { return m * n * k }
        return 0
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func cv(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let mean = values.reduce(0, +) / Double(values.count)
        guard mean > 0 else { return 0 }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return variance.squareRoot() / mean
    }

    static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    static func threadCPU() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
