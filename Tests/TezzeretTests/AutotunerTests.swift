import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Testing

@testable import Tezzeret

/// The autotuner at the strategies the forge really uses (06 §5): `standard` and `aggressive`.
@Suite struct AutotunerTests {
    static let catalog = Result { try KarnCatalog() }

    /// The forge's spec of a template at width 64, its weights and an input of the batch hint.
    static func setup(_ id: String) throws -> (spec: KernelSpec, weights: [Float], seed: UInt64, input: [Float]) {
        let template = try #require(try catalog.get().template(id))
        let validated = try template.validate(template.forgeParameters)
        let spec = try ShapeBuilder.forgeSpec(for: template, effective: validated.effective, width: 64).spec
        let seed: UInt64 = 99
        return (spec, try spec.initialParameters(seed: seed), seed, ValidationGates.input(32 * 64, seed: seed))
    }

    static func forward(
        _ spec: KernelSpec, _ variant: KernelVariant, _ s: (spec: KernelSpec, weights: [Float], seed: UInt64, input: [Float])
    )
        throws -> [Float]
    {
        try Autotuner.run(spec.with(variant: variant), s.weights, s.seed, s.input, 32)
    }

    @Test(arguments: [CompileStrategy.standard, .aggressive])
    func theChoiceIsTheFastestMeasuredWithinTolerance(strategy: CompileStrategy) throws {
        let s = try AutotunerTests.setup("BP021")
        let (chosen, result) = try Autotuner(strategy: strategy, batch: 32)
            .tune(spec: s.spec, weights: s.weights, seed: s.seed, input: s.input, forceReference: false)
        let expected =
            KernelVariant.candidates(for: s.spec.kind)
            + (strategy == .aggressive ? [.tiled(m: 64, n: 64, k: 512), .tiled(m: 128, n: 128, k: 256)] : [])
        #expect(result.candidates.map(\.variant) == expected.map(\.description))
        #expect(result.chosen == chosen.description)
        let timed = result.candidates.filter { $0.medianUs != nil }
        #expect(!timed.isEmpty)
        // Every timed candidate ran the strategy's number of runs (twice that when re-timed for noise).
        #expect(timed.allSatisfy { $0.runs == strategy.timedRuns || $0.runs == 2 * strategy.timedRuns })
        let chosenTiming = try #require(timed.first { $0.variant == result.chosen })
        if result.noisy {
            #expect(chosen == KernelVariant.defaultVariant(for: s.spec.kind), "noisy: the kind's default")
        } else {
            let fastest = timed.compactMap(\.medianUs).min()!
            #expect(chosenTiming.medianUs! <= fastest * (1 + Autotuner.tieTolerance))
            // Among those within tolerance, the smallest tile.
            let tied = timed.filter { $0.medianUs! <= fastest * (1 + Autotuner.tieTolerance) }
            let volumes = tied.compactMap { KernelVariant(name: $0.variant) }.map(Autotuner.tileVolume)
            #expect(Autotuner.tileVolume(chosen) == volumes.min())
        }
    }

    /// Every variant a strategy may choose computes the reference's function, for every
    /// template whose kind has variants (checked here, independently of the autotuner's own check).
    @Test func everyVariantAgreesWithTheReferenceForEveryTemplate() throws {
        var checked = 0
        for template in try AutotunerTests.catalog.get().all() where !template.isHostShaped && template.tier != .highRisk {
            let s = try AutotunerTests.setup(template.id)
            guard s.spec.kind.variantFamily != .single else { continue }
            let reference = try AutotunerTests.forward(s.spec, .reference(for: s.spec.kind), s)
            let scale = max(1, reference.map(abs).max()!)
            var variants = KernelVariant.candidates(for: s.spec.kind)
            if s.spec.kind.variantFamily == .matmul { variants += [.tiled(m: 64, n: 64, k: 512), .tiled(m: 128, n: 128, k: 256)] }
            for variant in variants {
                let output = try AutotunerTests.forward(s.spec, variant, s)
                let delta = zip(output, reference).map { abs($0 - $1) }.max()!
                #expect(delta <= 1e-4 * scale, "\(template.id) \(variant): max |Δ| \(delta)")
                checked += 1
            }
        }
        #expect(checked > 100)
    }

    /// The budget: a spent budget times nothing (and the compile falls back to the reference
    /// on its retry); a candidate reached after the budget is spent is never timed nor chosen,
    /// and every later one is skipped too.
    @Test func theBudgetStopsTuningAndTheRetryUsesTheReference() throws {
        let s = try AutotunerTests.setup("BP021")
        #expect(throws: CompileError.self) {
            _ = try Autotuner(strategy: .standard, batch: 32, budgetSeconds: 0)
                .tune(spec: s.spec, weights: s.weights, seed: s.seed, input: s.input, forceReference: false)
        }
        let (forced, record) = try Autotuner(strategy: .standard, batch: 32, budgetSeconds: 0)
            .tune(spec: s.spec, weights: s.weights, seed: s.seed, input: s.input, forceReference: true)
        #expect(forced == .naive && record.candidates.map(\.variant) == ["naive"])

        for budget in [0.001, 0.01, 0.05] {
            guard
                let (chosen, result) = try? Autotuner(strategy: .aggressive, batch: 32, budgetSeconds: budget)
                    .tune(spec: s.spec, weights: s.weights, seed: s.seed, input: s.input, forceReference: false)
            else { continue }
            let spent = result.candidates.map { $0.disqualified == "autotune budget spent" }
            if let first = spent.firstIndex(of: true) {
                #expect(spent[first...].allSatisfy { $0 }, "once spent, the rest are skipped")
            }
            #expect(
                result.candidates.filter { $0.disqualified == "autotune budget spent" }.allSatisfy { $0.runs == 0 && $0.medianUs == nil })
            #expect(result.candidates.first { $0.variant == chosen.description }?.medianUs != nil, "only a timed candidate is chosen")
        }
    }

    /// The rule on timings where the answer is known: the fastest wins; a larger tile within
    /// 3 % of it loses to a smaller one; noise falls back to the default.
    @Test func theRulePicksTheFastestThenTheSmallerTile() {
        let big = KernelVariant.tiled(m: 64, n: 64, k: 256), small = KernelVariant.tiled(m: 16, n: 16, k: 64)
        #expect(Autotuner.choose([(.blas, 3e-4, false), (big, 1e-4, false), (.naive, 9e-4, false)], defaultVariant: .blas) == big)
        #expect(Autotuner.choose([(big, 1.00e-4, false), (small, 1.02e-4, false), (.blas, 2e-4, false)], defaultVariant: .blas) == small)
        #expect(Autotuner.choose([(big, 1.00e-4, false), (small, 1.05e-4, false)], defaultVariant: .blas) == big)
        #expect(Autotuner.choose([(big, 1e-4, true), (.blas, 2e-4, false)], defaultVariant: .blas) == .blas)
        #expect(Autotuner.choose([], defaultVariant: .blas) == nil)
    }
}
