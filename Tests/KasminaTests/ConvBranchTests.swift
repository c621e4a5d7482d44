import EsperTestSupport
import Foundation
import Kernels
import Leyline
import Testing
import Tolaria

@testable import Kasmina

/// Conv-branch structural seeds on a real Trainer (MNIST-1D, host 40→8→10): `conv-branch-8` at
/// slot-0 reads the network input (40 positions, one channel) through conv1d 5/3/3, stride 2,
/// padding 1 (40 → 19 → 10 → 5 positions × 8 channels) and adds to the logits' pre-activation.
@Suite(.serialized) struct ConvBranchTests {
    /// Σ (k·kernel·c_in + k) + 10·(5·8) = 48 + 200 + 200 + 400.
    static let parameters = 848

    static var config: RunConfig {
        var config = RunConfig(dataset: DatasetSpec(kind: .mnist1d), epochs: 2, learningRate: 3e-3)
        config.model.hiddenSizes = [8]
        config.batchSize = 128
        config.seed = 5
        return config
    }

    static let lifecycle: [Int: [AdaptationCommand]] = [
        0: [Commands.germinate("conv-branch-8")], 1: [Commands.operation(.startGrafting, "seed-0-0")],
        2: [Commands.operation(.stabilize, "seed-0-0")], 3: [Commands.operation(.evaluate, "seed-0-0")],
        4: [Commands.operation(.fossilize, "seed-0-0")],
    ]

    static func trainer(
        _ config: RunConfig, controller: any EpochController, directory: String? = nil,
        sink: InMemoryTrainingSink = InMemoryTrainingSink()
    ) throws -> Trainer {
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        return Trainer(
            runId: "conv-branch", config: config, split: DataSplit(data, spec: config.dataset, seed: config.seed),
            checkpoints: directory.map { CheckpointStore(directory: $0, keep: 10) }, sink: sink, controller: controller)
    }

    static func manager(graftSteps: Int = 7) throws -> SeedManager {
        var settings = SeedSettings()
        settings.graftSteps = graftSteps
        return try GraftingTests.manager(settings)
    }

    /// Logits of the first 200 test rows.
    static func logits(_ trainer: Trainer) throws -> [Float] {
        let data = trainer.split.validation
        let rows = min(200, data.count)
        var out: [Float] = []
        try data.features.withUnsafeBufferPointer { features in
            let logits = try trainer.model.forward(features.baseAddress!, batch: rows, training: false)
            out = Array(UnsafeBufferPointer(start: logits, count: rows * 10))
        }
        return out
    }

    @Test func aConvBranchSeedInTrainingLeavesTheHostBitIdenticalWhileItLearns() throws {
        let plain = try ConvBranchTests.trainer(ConvBranchTests.config, controller: NoOpEpochController())
        #expect(try plain.run() == .completed)
        let manager = try ConvBranchTests.manager()
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("conv-branch-8")]])
        let sink = InMemoryTrainingSink()
        let grafted = try ConvBranchTests.trainer(ConvBranchTests.config, controller: controller, sink: sink)
        #expect(try grafted.run() == .completed)

        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.addsToPreactivation && seed.stage == .training && seed.origin.kind == "conv_branch")
        #expect(seed.parameterCount == ConvBranchTests.parameters)
        #expect(seed.origin.convBranch?.flatWidth == 40)
        // Its training FLOPs count its convolutions (weights shared across positions), not 6P.
        let shape = try #require(seed.origin.convBranch)
        #expect(grafted.model.slots[0].module?.trainingFlopsPerExample == TrainingCost.branchPerExample(shape))
        #expect(TrainingCost.branchPerExample(shape) > TrainingCost.seedPerExample(parameters: seed.parameterCount))
        #expect(manager.isolationViolations == 0)
        #expect(GraftingTests.hostValues(grafted) == GraftingTests.hostValues(plain), "isolation: no host parameter moved")
        #expect(try ConvBranchTests.logits(grafted).map(\.bitPattern) == ConvBranchTests.logits(plain).map(\.bitPattern))
        // It learned from the shadow pass: V (the last 400 floats) left zero, the convs moved.
        let v = UnsafeBufferPointer(start: seed.group.values + ConvBranchTests.parameters - 400, count: 400)
        #expect(v.contains { $0 != 0 })
        #expect(seed.lastEpoch.shadowLoss != nil && seed.lastEpoch.gradientNorm > 0)
        // The shadow objective with the branch beats the host alone on its training batches.
        let hostLoss = try #require(sink.summaries.last?.trainLoss)
        #expect(try #require(seed.lastEpoch.shadowLoss) < hostLoss)
    }

    @Test func aFossilisedConvBranchBecomesPartOfTheHostWithTheSameFunction() throws {
        let manager = try ConvBranchTests.manager()
        let controller = ScriptedController(manager: manager, script: ConvBranchTests.lifecycle)
        var config = ConvBranchTests.config
        config.epochs = 5
        let sink = InMemoryTrainingSink(), bareSink = InMemoryTrainingSink()
        let trainer = try ConvBranchTests.trainer(config, controller: controller, sink: sink)
        // Fossilised at the boundary of the last epoch: the grown host is compared with what it replaced.
        var before: [Float] = []
        controller.before = { epoch, _ in if epoch == 4 { before = (try? ConvBranchTests.logits(trainer)) ?? [] } }
        let hostBefore = trainer.model.architecture.parameterCount
        #expect(try trainer.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        let branches = try #require(trainer.model.architecture.branches)
        #expect(branches.count == 1 && branches[0].layer == 0 && branches[0].blueprint == "conv-branch-8")
        #expect(trainer.model.architecture.parameterCount == hostBefore + ConvBranchTests.parameters)
        #expect(trainer.model.hostGroups.last?.name == "host.branch-0" && trainer.model.hostGroups.last?.frozen == false)
        #expect(trainer.model.slots[0].module == nil && manager.slotModules.isEmpty)
        let finished = try #require(controller.results.last?.finished.first)
        #expect(finished.finalStage == .fossilized && finished.parameters == ConvBranchTests.parameters)
        // The host branch computes exactly what the seed added at α = 1.
        let after = try ConvBranchTests.logits(trainer)
        #expect(!before.isEmpty && before.map(\.bitPattern) == after.map(\.bitPattern))
        #expect(manager.isolationViolations == 0)
        // The grown host beat the bare 8-unit host's test accuracy by the end of its stages.
        let grown = try #require(sink.summaries.last?.validationAccuracy)
        let bare = try ConvBranchTests.trainer(config, controller: NoOpEpochController(), sink: bareSink)
        #expect(try bare.run() == .completed)
        #expect(grown > (bareSink.summaries.last?.validationAccuracy ?? 1))
    }

    @Test func aCulledConvBranchSeedLeavesTheExactHost() throws {
        let manager = try ConvBranchTests.manager(graftSteps: 60)
        var config = ConvBranchTests.config
        config.epochs = 3
        let controller = ScriptedController(
            manager: manager,
            script: [
                0: [Commands.germinate("conv-branch-8")], 1: [Commands.operation(.startGrafting, "seed-0-0")],
                2: [Commands.operation(.cull, "seed-0-0")],
            ])
        let trainer = try ConvBranchTests.trainer(config, controller: controller)
        var blended: [Float] = [], culled: [Float] = []
        controller.before = { epoch, _ in if epoch == 2 { blended = (try? ConvBranchTests.logits(trainer)) ?? [] } }
        controller.after = { epoch, _ in if epoch == 2 { culled = (try? ConvBranchTests.logits(trainer)) ?? [] } }
        #expect(try trainer.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        #expect(trainer.model.architecture.branches == nil && trainer.model.slots[0].module == nil)
        let bare = try ConvBranchTests.logits(trainer)
        #expect(blended != bare)
        #expect(culled.map(\.bitPattern) == bare.map(\.bitPattern))
    }

    @Test func aHostWithAFossilisedBranchResumesFromItsCheckpointExactly() throws {
        let directory = TemporaryDirectory("kasmina-conv-branch-resume")
        var config = ConvBranchTests.config
        config.epochs = 6
        let first = ScriptedController(manager: try ConvBranchTests.manager(), script: ConvBranchTests.lifecycle)
        let original = try ConvBranchTests.trainer(config, controller: first, directory: directory.path)
        #expect(try original.run() == .completed)
        #expect(original.model.architecture.branches?.count == 1)
        let expected = try ConvBranchTests.logits(original)

        let second = ScriptedController(manager: try ConvBranchTests.manager(), script: [:])
        let resumed = try ConvBranchTests.trainer(config, controller: second, directory: directory.path)
        #expect(resumed.model.architecture.branches == nil)
        #expect(try resumed.resumeFromCheckpoint() == 6)
        #expect(resumed.model.architecture == original.model.architecture)
        #expect(try ConvBranchTests.logits(resumed).map(\.bitPattern) == expected.map(\.bitPattern))
    }

    /// Resumed mid-run (epoch 3, the seed still live in its slot), the run goes on through the
    /// fossilisation to the same curve and the same final host as one that never stopped.
    @Test func aRunResumedBeforeTheFossilisationGivesTheSameCurve() throws {
        let directory = TemporaryDirectory("kasmina-conv-branch-midrun")
        var config = ConvBranchTests.config
        config.epochs = 6
        let straightSink = InMemoryTrainingSink(), resumedSink = InMemoryTrainingSink()
        let straight = try ConvBranchTests.trainer(
            config, controller: ScriptedController(manager: try ConvBranchTests.manager(), script: ConvBranchTests.lifecycle),
            sink: straightSink)
        #expect(try straight.run() == .completed)

        var short = config
        short.epochs = 3
        let stopped = try ConvBranchTests.trainer(
            short, controller: ScriptedController(manager: try ConvBranchTests.manager(), script: ConvBranchTests.lifecycle),
            directory: directory.path)
        #expect(try stopped.run() == .completed)
        let resumed = try ConvBranchTests.trainer(
            config, controller: ScriptedController(manager: try ConvBranchTests.manager(), script: ConvBranchTests.lifecycle),
            directory: directory.path, sink: resumedSink)
        #expect(try resumed.resumeFromCheckpoint() == 3)
        #expect(try resumed.run() == .completed)
        #expect(resumed.model.architecture == straight.model.architecture)
        #expect(resumedSink.summaries.map(\.trainLoss) == Array(straightSink.summaries.map(\.trainLoss).suffix(3)))
        #expect(try ConvBranchTests.logits(resumed).map(\.bitPattern) == ConvBranchTests.logits(straight).map(\.bitPattern))
    }

    /// Isolation from the real buffers: a conv-branch kernel that writes into the host's
    /// gradients is caught by I2 around its shadow backward, culled after three violations and
    /// its blueprint quarantined; the host never changes shape.
    @Test func aLeakingConvBranchKernelIsCulledAndQuarantined() throws {
        var host: UnsafeMutablePointer<Float>?
        let manager = SeedManager(
            runId: "conv-branch", settings: SeedSettings(), kernels: UrzaKernelProvider(urza: try GraftingTests.library.get().urza),
            budgetMs: 1000,
            makeConvBranch: { shape, block, _ in LeakingBranch(ConvBranchSeed(shape: shape, block: block), hostGradients: host!) })
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("conv-branch-8")]])
        let trainer = try ConvBranchTests.trainer(ConvBranchTests.config, controller: controller)
        host = trainer.model.block.gradients
        #expect(try trainer.run() == .completed)
        #expect(manager.isolationViolations == 3)
        #expect(manager.guardian.violations.allSatisfy { $0.check == .seedBackwardLeak })
        let finished = try #require(controller.reports[1].finished.first)
        #expect(finished.cullReason == "isolation_breach" && finished.quarantine && finished.finalStage == .cancelled)
        #expect(trainer.model.slots[0].module == nil && trainer.model.architecture.branches == nil)
    }

    @Test func aConvBranchIsRefusedWhereTheSignalIsTooShort() throws {
        // Two moons: slot-0 reads 2 positions, too few for a kernel of 5 with padding 1.
        let manager = try GraftingTests.manager()
        var config = GraftingTests.config
        config.epochs = 1
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("conv-branch-16")]])
        #expect(try GraftingTests.trainer(config, controller: controller).run() == .completed)
        #expect(controller.results.first?.accepted == false)
        #expect(controller.results.first?.reason?.contains("does not fit") == true)
        let moons = HostArchitecture(inputs: 2, hiddenSizes: [16, 16], classes: 2)
        #expect(ConvBranchSeedBlueprint.addedParameters("conv-branch-16", layer: 0, architecture: moons) == nil)
        #expect(ConvBranchSeedBlueprint.misfit("conv-branch-16", slots: [0, 1], architecture: moons) == nil, "slot-1 reads 16")
        #expect(ConvBranchSeedBlueprint.misfit("conv-branch-16", slots: [0], architecture: moons)?.contains("longer signal") == true)
        let mnist = HostArchitecture(inputs: 40, hiddenSizes: [8], classes: 10)
        #expect(ConvBranchSeedBlueprint.addedParameters("BP056", layer: 0, architecture: mnist) == 5200, "the paper's CNN stage")
        #expect(ConvBranchSeedBlueprint.addedParameters("widen-8", layer: 0, architecture: mnist) == nil)
    }
}
