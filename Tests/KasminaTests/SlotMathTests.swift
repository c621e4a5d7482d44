import EsperTestSupport
import KernelRuntime
import Kernels
import Leyline
import Testing
import Tolaria

@testable import Kasmina

/// What one slot computes in every stage (README-morphogenesis §4), forward and backward,
/// against a reference built from a second, independent instance of the same kernel.
@Suite(.serialized) struct SlotMathTests {
    static let width = 16
    static let batch = 8
    static let library = Result { try BlueprintLibraryFixture(width: width, blueprints: ["BP008", "BP002"]) }

    /// A seed of `blueprint` with random (non-identity) parameters, standing in `stage`.
    final class Setup {
        let module: SlotModule
        let seed: Seed
        let reference: SeedKernel
        let guardian = IsolationGuard()

        init(_ blueprint: String, stage: SeedLifecycleStage, alpha: Float = 0) throws {
            let compiled = try SlotMathTests.library.get().urza.fetchKernel(blueprint, width: SlotMathTests.width).kernel
            let block = ParameterBlock(count: compiled.parameterCount)
            let branch = try KernelBranch(compiled, block: block)
            for (i, v) in BlendMathTests.values(compiled.parameterCount, seed: 11).enumerated() { block.values[i] = 0.3 * v }
            var lifecycle = SeedLifecycle()
            let path: [SeedLifecycleStage] =
                switch stage {
                case .training: [.germinating, .training]
                case .grafting: [.germinating, .training, .grafting]
                case .stabilizing: [.germinating, .training, .grafting, .stabilizing]
                case .evaluating: [.germinating, .training, .grafting, .stabilizing, .evaluating]
                case .fineTuning: [.germinating, .training, .fineTuning]
                default: [.germinating]
                }
            for next in path { try lifecycle.transition(to: next) }
            let origin = KernelOrigin(
                requestedId: blueprint, kernelId: blueprint, source: "requested", fetchLatencyMs: 0.1,
                fallbackReason: nil, parameterCount: compiled.parameterCount, kind: compiled.spec.kind.rawValue)
            seed = Seed(
                id: "seed-0-1", slot: "slot-0", layer: 0, origin: origin,
                baseline: SeedBaseline(validationLoss: 1, validationAccuracy: 0.5, epoch: 1, commandId: "c"),
                lifecycle: lifecycle, block: block, branch: branch, learningRate: 1e-3, epoch: 1)
            seed.alpha = alpha
            module = SlotModule(
                name: "slot-0", layer: 0, width: SlotMathTests.width, guardian: guardian, settings: SeedSettings(),
                rebuild: { _ in throw BlueprintLibraryFixture.FixtureError("no rebuild here") },
                onViolation: { _, _ in })
            module.attach(seed)
            reference = try compiled.instantiate()
            _ = reference.parameters.update(from: UnsafeBufferPointer(start: block.values, count: compiled.parameterCount))
        }

        var seedGradients: [Float] { Array(UnsafeBufferPointer(start: seed.group.gradients, count: seed.parameterCount)) }
    }

    static let n = batch * width
    static let h = BlendMathTests.values(n, seed: 21)
    static let delta = BlendMathTests.values(n, seed: 22).map { $0 * 0.1 }

    /// Forward and backward through the module.
    static func run(_ setup: Setup, training: Bool = true) throws -> (y: [Float], dx: [Float]) {
        var y = [Float](repeating: .nan, count: n), dx = [Float](repeating: .nan, count: n)
        try setup.module.forward(input: h, output: &y, batch: batch, width: width, training: training)
        if training {
            try setup.module.backward(outputGradient: delta, inputGradient: &dx, input: h, output: y, batch: batch, width: width)
        }
        return (y, dx)
    }

    static func close(_ a: [Float], _ b: [Float], _ tolerance: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func trainingKeepsTheHostExactAndFeedsTheShadowPass() throws {
        let setup = try Setup("BP008", stage: .training)
        let (y, dx) = try SlotMathTests.run(setup)
        #expect(y.map(\.bitPattern) == SlotMathTests.h.map(\.bitPattern), "y = h bit for bit")
        #expect(dx.map(\.bitPattern) == SlotMathTests.delta.map(\.bitPattern), "∂L/∂h = δ bit for bit")
        #expect(setup.seedGradients.allSatisfy { $0 == 0 }, "nothing of the main loss reaches the seed in TRAINING")
        // The shadow activation is k(h̄); the shadow gradient trains the seed through k.
        let shadow = try #require(setup.module.shadowActivation)
        let s = try setup.reference.forward(SlotMathTests.h, batch: SlotMathTests.batch)
        #expect(SlotMathTests.close(Array(UnsafeBufferPointer(start: shadow, count: SlotMathTests.n)), s))
        let g = BlendMathTests.values(SlotMathTests.n, seed: 23)
        setup.module.shadowPassWillBegin()
        try setup.module.shadowBackward(gradient: g, loss: 0.5, correct: 3, batch: SlotMathTests.batch, width: SlotMathTests.width)
        setup.reference.zeroGradients()
        _ = try setup.reference.backward(g)
        #expect(SlotMathTests.close(setup.seedGradients, Array(setup.reference.gradients)))
        #expect(setup.seed.violationCount == 0)
        // Validation: nothing of the seed runs.
        let (eval, _) = try SlotMathTests.run(setup, training: false)
        #expect(eval.map(\.bitPattern) == SlotMathTests.h.map(\.bitPattern))
    }

    @Test(arguments: [Float(0), 0.3, 0.75, 1])
    func graftingBlendsResidualKernelsWithTheFullHostGradient(alpha: Float) throws {
        let setup = try Setup("BP008", stage: .grafting, alpha: alpha)
        #expect(setup.seed.isResidual)
        let (y, dx) = try SlotMathTests.run(setup)
        let s = try setup.reference.forward(SlotMathTests.h, batch: SlotMathTests.batch)
        let expected = (0..<SlotMathTests.n).map { SlotMathTests.h[$0] + alpha * (s[$0] - SlotMathTests.h[$0]) }
        #expect(SlotMathTests.close(y, expected))
        if alpha == 0 { #expect(y.map(\.bitPattern) == SlotMathTests.h.map(\.bitPattern)) }
        #expect(dx.map(\.bitPattern) == SlotMathTests.delta.map(\.bitPattern), "the identity path keeps δ")
        setup.reference.zeroGradients()
        _ = try setup.reference.backward(SlotMathTests.delta.map { alpha * $0 })
        #expect(SlotMathTests.close(setup.seedGradients, Array(setup.reference.gradients)), "∂L/∂θ = backprop of α·δ")
        #expect(setup.seed.violationCount == 0)
    }

    @Test(arguments: [Float(0), 0.4, 1])
    func graftingBlendsConvexKernelsAndSplitsTheGradient(alpha: Float) throws {
        let setup = try Setup("BP002", stage: .grafting, alpha: alpha)
        #expect(!setup.seed.isResidual)
        let (y, dx) = try SlotMathTests.run(setup)
        let s = try setup.reference.forward(SlotMathTests.h, batch: SlotMathTests.batch)
        let expected = (0..<SlotMathTests.n).map { alpha == 1 ? s[$0] : (1 - alpha) * SlotMathTests.h[$0] + alpha * s[$0] }
        #expect(SlotMathTests.close(y, expected))
        #expect(SlotMathTests.close(dx, SlotMathTests.delta.map { (1 - alpha) * $0 }, 0), "∂L/∂h = (1−α)·δ exactly")
        setup.reference.zeroGradients()
        _ = try setup.reference.backward(SlotMathTests.delta.map { alpha * $0 })
        #expect(SlotMathTests.close(setup.seedGradients, Array(setup.reference.gradients)))
    }

    @Test(arguments: [SeedLifecycleStage.stabilizing, .evaluating, .fineTuning])
    func laterStagesUseTheSeedOutputAndOnlyFineTuningLearns(stage: SeedLifecycleStage) throws {
        for blueprint in ["BP008", "BP002"] {
            let setup = try Setup(blueprint, stage: stage, alpha: 1)
            let (y, dx) = try SlotMathTests.run(setup)
            let s = try setup.reference.forward(SlotMathTests.h, batch: SlotMathTests.batch)
            #expect(SlotMathTests.close(y, s), "y = k(h̄)")
            let hostScale: Float = setup.seed.isResidual ? 1 : 0
            #expect(SlotMathTests.close(dx, SlotMathTests.delta.map { hostScale * $0 }, 0))
            if stage == .fineTuning {
                setup.reference.zeroGradients()
                _ = try setup.reference.backward(SlotMathTests.delta)
                #expect(SlotMathTests.close(setup.seedGradients, Array(setup.reference.gradients)))
            } else {
                #expect(setup.seedGradients.allSatisfy { $0 == 0 }, "\(stage.name): the seed is frozen")
            }
        }
    }

    @Test func aFossilIsAnOrdinaryLayerWithGradientThroughIt() throws {
        let setup = try Setup("BP008", stage: .evaluating, alpha: 1)
        try setup.seed.transition(to: .fossilized, epoch: 2)
        setup.module.fossilize()
        #expect(setup.module.active == nil && setup.module.fossils.count == 1 && setup.seed.group.frozen)
        let (y, dx) = try SlotMathTests.run(setup)
        let s = try setup.reference.forward(SlotMathTests.h, batch: SlotMathTests.batch)
        #expect(SlotMathTests.close(y, s))
        let expectedDx = try setup.reference.backward(SlotMathTests.delta)
        #expect(SlotMathTests.close(dx, expectedDx), "∂L/∂h = J_kᵀ δ")
    }

    @Test func aCullRestoresTheHostFunctionBitForBit() throws {
        let setup = try Setup("BP008", stage: .grafting, alpha: 0.6)
        let (blended, _) = try SlotMathTests.run(setup)
        #expect(blended != SlotMathTests.h)
        setup.module.beginCull(setup.seed, reason: "policy", quarantine: false)
        // GRAFTING may not go to CULLING: straight to CANCELLED.
        #expect(setup.seed.stage == .cancelled && setup.seed.alpha == 0)
        let (y, dx) = try SlotMathTests.run(setup)
        #expect(y.map(\.bitPattern) == SlotMathTests.h.map(\.bitPattern))
        #expect(dx.map(\.bitPattern) == SlotMathTests.delta.map(\.bitPattern))
    }

    @Test func theBottleneckAdapterAddsTwoHundredEightyParameters() throws {
        let record = try SlotMathTests.library.get().urza.get("BP008")
        #expect(record?.kind == "residual_mlp" && record?.seedWidth == 16)
        let kernel = try SlotMathTests.library.get().urza.fetchKernel("BP008", width: 16).kernel
        #expect(kernel.parameterCount == 16 * 8 + 8 + 8 * 16 + 16)
        #expect(kernel.parameterCount == 280)
        #expect(kernel.spec.hidden == 8 && kernel.spec.count == 1)
    }
}
