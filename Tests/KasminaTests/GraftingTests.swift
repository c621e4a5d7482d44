import EsperTestSupport
import Foundation
import KernelRuntime
import Kernels
import Leyline
import Testing
import Tolaria

@testable import Kasmina

/// Drives a real Trainer (two moons, host 2→16→slot→16→2, Adam 1e-3, batch 128) with Kasmina
/// executing a script of commands at given epochs — the control loop without Tamiyo's choices.
final class ScriptedController: EpochController, SeedModuleFactory {
    let manager: SeedManager
    var script: [Int: [AdaptationCommand]]
    var reports: [BoundaryReport] = []
    var results: [CommandResult] = []
    /// Called at the start and at the end of every boundary (epoch, manager).
    var before: ((Int, SeedManager) -> Void)?
    var after: ((Int, SeedManager) -> Void)?

    init(manager: SeedManager, script: [Int: [AdaptationCommand]]) {
        self.manager = manager
        self.script = script
    }

    func endOfEpoch(_ state: EpochState) throws -> [EpochDecision] {
        before?(state.summary.epoch, manager)
        defer { after?(state.summary.epoch, manager) }
        let (report, boundary) = manager.beginBoundary(state)
        reports.append(report)
        var decisions = boundary.map(\.decision)
        for command in script[state.summary.epoch] ?? [] {
            let result = manager.execute(command, validation: (state.summary.validationLoss, state.summary.validationAccuracy))
            results.append(result)
            decisions += result.decisions.map(\.decision)
        }
        manager.endBoundary()
        return decisions
    }

    func makeModule(kind: String, slot: SeedSlot, checkpointState: [UInt8]) throws -> (any SeedSlotModule)? {
        try manager.makeModule(kind: kind, slot: slot, checkpointState: checkpointState)
    }
}

enum Commands {
    static func germinate(_ blueprint: String, slot: String = "slot-0") -> AdaptationCommand {
        AdaptationCommand(
            commandId: "c-\(blueprint)", commandType: .seed, issuedBy: "test",
            payload: .seedOperation(CommandSeedOperation(operation: .germinate, blueprintId: blueprint)),
            annotations: ["slot": slot])
    }

    static func operation(_ operation: SeedOperation, _ seed: String) -> AdaptationCommand {
        AdaptationCommand(
            commandId: "c-\(operation.name)", commandType: .seed, targetSeedId: seed, issuedBy: "test",
            payload: .seedOperation(CommandSeedOperation(operation: operation)))
    }

    static func pause(_ seed: String = "") -> AdaptationCommand {
        AdaptationCommand(commandId: "c-pause", commandType: .pause, targetSeedId: seed, issuedBy: "test")
    }
}

/// A kernel that leaks: besides its own gradients it adds them into memory it was handed —
/// the host's gradient buffer — as a seed wired to host memory would. Wraps any branch (slot
/// kernels and widening seeds alike).
final class LeakingBranch: SeedBranch {
    let inner: any SeedBranch
    let hostGradients: UnsafeMutablePointer<Float>
    let aliasParameters: Bool
    init(_ inner: any SeedBranch, hostGradients: UnsafeMutablePointer<Float>, aliasParameters: Bool = false) {
        self.inner = inner
        self.hostGradients = hostGradients
        self.aliasParameters = aliasParameters
    }
    var parameterCount: Int { inner.parameterCount }
    var parameters: UnsafeMutablePointer<Float> { aliasParameters ? hostGradients : inner.parameters }
    var gradients: UnsafeMutablePointer<Float> { inner.gradients }
    var isResidual: Bool { inner.isResidual }
    var training: Bool {
        get { inner.training }
        set { inner.training = newValue }
    }
    var step: UInt64 {
        get { inner.step }
        set { inner.step = newValue }
    }
    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws {
        try inner.forward(x, into: y, batch: batch)
    }
    func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        try inner.backward(outputGradient, inputGradient: inputGradient)
        for i in 0..<min(8, parameterCount) { hostGradients[i] += 1e-3 * (1 + abs(inner.gradients[i])) }
    }
}

@Suite(.serialized) struct GraftingTests {
    static let library = Result { try BlueprintLibraryFixture(width: 16, blueprints: ["BP001", "BP008", "BP002", "BP045"]) }

    static var config: RunConfig {
        var config = RunConfig(dataset: DatasetSpec(kind: .twoMoons), epochs: 6, learningRate: 1e-3)
        config.model.hiddenSizes = [16, 16]
        config.batchSize = 128
        config.seed = 7
        return config
    }

    static func trainer(
        _ config: RunConfig, controller: any EpochController, directory: String? = nil,
        sink: InMemoryTrainingSink = InMemoryTrainingSink()
    ) throws -> Trainer {
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        let split = DataSplit(
            data, validationFraction: config.dataset.validationFraction, seed: config.seed,
            scaling: config.dataset.effectiveScaling)
        return Trainer(
            runId: "grafting", config: config, split: split,
            checkpoints: directory.map { CheckpointStore(directory: $0, keep: 10) }, sink: sink, controller: controller)
    }

    static func manager(
        _ settings: SeedSettings = SeedSettings(), registry: SeedRegistry? = nil,
        makeBranch: ((CompiledKernel, ParameterBlock) throws -> any SeedBranch)? = nil
    ) throws -> SeedManager {
        SeedManager(
            runId: "grafting", settings: settings, kernels: UrzaKernelProvider(urza: try library.get().urza), budgetMs: 1000,
            registry: registry, makeBranch: makeBranch)
    }

    /// Logits of the whole validation split, with the slot's module as it is and without it.
    static func logits(_ trainer: Trainer) throws -> [Float] {
        let data = trainer.split.validation
        var out: [Float] = []
        try data.features.withUnsafeBufferPointer { features in
            let logits = try trainer.model.forward(features.baseAddress!, batch: data.count, training: false)
            out = Array(UnsafeBufferPointer(start: logits, count: data.count * 2))
        }
        return out
    }

    static func hostValues(_ trainer: Trainer) -> [UInt32] {
        trainer.model.hostGroups.flatMap { group in UnsafeBufferPointer(start: group.values, count: group.count).map(\.bitPattern) }
    }

    @Test func aSeedInTrainingLeavesTheHostBitIdenticalWhileItLearns() throws {
        let plain = try GraftingTests.trainer(GraftingTests.config, controller: NoOpEpochController())
        #expect(try plain.run() == .completed)
        let manager = try GraftingTests.manager()
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP008")]])
        let grafted = try GraftingTests.trainer(GraftingTests.config, controller: controller)
        #expect(try grafted.run() == .completed)

        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.stage == .training && seed.parameterCount == 280)
        #expect(seed.steps == 5 * 7, "the seed took a step with every host step (800 samples / 128 = 7 per epoch)")
        #expect(manager.isolationViolations == 0)
        // The host trained exactly as if nothing were grafted, and the model's output is the host's.
        #expect(GraftingTests.hostValues(grafted) == GraftingTests.hostValues(plain))
        #expect(try GraftingTests.logits(grafted).map(\.bitPattern) == GraftingTests.logits(plain).map(\.bitPattern))
        // …while the seed learned from its shadow objective: its output projection left zero.
        let wOut = UnsafeBufferPointer(start: seed.group.values + 16 * 8 + 8, count: 8 * 16)
        #expect(wOut.contains { $0 != 0 })
        #expect(seed.lastEpoch.shadowLoss != nil && seed.lastEpoch.gradientNorm > 0)
        let states = try #require(controller.reports.last?.seeds)
        #expect(states.map(\.stage) == [.training])
    }

    @Test func theRampBlendsThenTheSeedStabilisesEvaluatesAndFossilises() throws {
        var settings = SeedSettings()
        settings.graftSteps = 10
        let manager = try GraftingTests.manager(settings)
        var config = GraftingTests.config
        config.epochs = 8
        let id = "seed-0-0"
        let controller = ScriptedController(
            manager: manager,
            script: [
                0: [Commands.germinate("BP008")], 1: [Commands.operation(.startGrafting, id)], 2: [Commands.operation(.stabilize, id)],
                3: [Commands.operation(.stabilize, id)], 4: [Commands.operation(.evaluate, id)], 6: [Commands.operation(.fossilize, id)],
            ])
        let sink = InMemoryTrainingSink()
        let trainer = try GraftingTests.trainer(config, controller: controller, sink: sink)
        #expect(try trainer.run() == .completed)
        // Epoch 2: 7 steps of a 10-step ramp: STABILIZE is refused; epoch 3: the ramp is done.
        #expect(controller.results.map(\.accepted) == [true, true, false, true, true, true])
        #expect(controller.results[2].reason?.contains("α ramp") == true)
        let module = try #require(manager.slotModules.first)
        #expect(module.active == nil && module.fossils.count == 1)
        let fossil = module.fossils[0]
        #expect(fossil.stage == .fossilized && fossil.alpha == 1 && fossil.group.frozen)
        #expect(fossil.lifecycle.history.map(\.to) == [.germinating, .training, .grafting, .stabilizing, .evaluating, .fossilized])
        // The ablation pass ran while the seed was evaluated.
        let evaluated = sink.summaries[5].slots[0]
        #expect(evaluated.ablationValidationLoss != nil && evaluated.module == "kasmina")
        #expect(sink.summaries.last?.seeds?.first?.stage == .fossilized)
        #expect(manager.isolationViolations == 0)
        // A fossil is part of the host: removing it changes the output.
        let with = try GraftingTests.logits(trainer)
        trainer.model.install(nil, inSlot: "slot-0")
        #expect(try GraftingTests.logits(trainer) != with)
    }

    @Test func aKernelWritingIntoHostGradientsIsCulledAndItsSlotIsTheHostAgain() throws {
        var host: UnsafeMutablePointer<Float>?
        let manager = try GraftingTests.manager(makeBranch: { compiled, block in
            LeakingBranch(try KernelBranch(compiled, block: block), hostGradients: host!)
        })
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP008")]])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        host = trainer.model.block.gradients
        #expect(try trainer.run() == .completed)
        // Three I2 violations in the first three batches of epoch 1: culled, finished at the boundary.
        #expect(manager.isolationViolations == 3)
        #expect(manager.guardian.violations.allSatisfy { $0.check == .seedBackwardLeak })
        let finished = try #require(controller.reports[1].finished.first)
        #expect(finished.cullReason == "isolation_breach" && finished.quarantine && finished.finalStage == .cancelled)
        #expect(finished.stageBeforeEnd == .training)
        #expect(manager.slotModules.isEmpty && trainer.model.slots[0].module == nil, "the slot is the bare host again")
        #expect(controller.reports[1].slots[0].embargoUntilEpoch == 1 + 1 + SeedSettings().embargoEpochs)
    }

    @Test func aSeedSharingHostMemoryIsRefusedAtAttach() throws {
        var host: UnsafeMutablePointer<Float>?
        let manager = try GraftingTests.manager(makeBranch: { compiled, block in
            LeakingBranch(try KernelBranch(compiled, block: block), hostGradients: host!, aliasParameters: true)
        })
        var config = GraftingTests.config
        config.epochs = 2
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP008")]])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        host = trainer.model.block.gradients
        #expect(try trainer.run() == .completed)
        #expect(controller.results.first?.accepted == false)
        #expect(manager.guardian.violations.map(\.check) == [.storageOverlap])
        #expect(manager.guardian.violations.first?.detail.contains("host.layer-0 gradients") == true)
        #expect(trainer.model.slots[0].module == nil)
    }

    @Test func aDetachLeakTripsTheSplitCheckAndIsCulled() throws {
        var settings = SeedSettings()
        settings.faultInjection = SeedFaultInjection(detachLeak: true)
        let manager = try GraftingTests.manager(settings)
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP008")]])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        #expect(try trainer.run() == .completed)
        #expect(manager.isolationViolations == 3)
        #expect(manager.guardian.violations.allSatisfy { $0.check == .blendedSplit })
        #expect(controller.reports[1].finished.first?.quarantine == true)
    }

    @Test func aNaNInjectingKernelIsCulledBeforeItReachesTheHost() throws {
        var settings = SeedSettings()
        settings.allowHighRisk = true
        let manager = try GraftingTests.manager(settings)
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP045")]])
        let sink = InMemoryTrainingSink()
        let trainer = try GraftingTests.trainer(config, controller: controller, sink: sink)
        #expect(try trainer.run() == .completed)
        #expect(manager.guardian.violations.first?.check == .nonFinite)
        #expect(controller.reports[1].finished.first?.cullReason == "isolation_breach")
        #expect(sink.events.filter { $0.kind == .lossNonFinite }.isEmpty, "the host never saw a NaN")
        #expect(sink.summaries.allSatisfy { $0.validationLoss.isFinite })
    }

    @Test func aQuarantineOnlyKernelFallsBackWithoutTheOverride() throws {
        let manager = try GraftingTests.manager()
        var config = GraftingTests.config
        config.epochs = 2
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP045")]])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        #expect(try trainer.run() == .completed)
        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.origin.source == "fallback" && seed.origin.kernelId == "BP001" && seed.parameterCount == 0)
        #expect(seed.origin.fallbackReason?.contains("quarantine") == true)
        let packet = manager.telemetryPacket()
        #expect(packet.events.contains { $0.description == "fallback_applied" })
        #expect(packet.systemHealth.status == .degraded)
    }

    @Test func pauseHoldsTheSeedAtTheHostFunctionForAnEpoch() throws {
        var settings = SeedSettings()
        settings.graftSteps = 5
        let manager = try GraftingTests.manager(settings)
        var config = GraftingTests.config
        config.epochs = 5
        let id = "seed-0-0"
        let controller = ScriptedController(
            manager: manager,
            script: [
                0: [Commands.germinate("BP008")], 1: [Commands.operation(.startGrafting, id)], 2: [Commands.pause()],
            ])
        var steps: [Int: UInt64] = [:]
        var pausedUntil: [Int: Int] = [:]
        controller.before = { epoch, manager in
            steps[epoch] = manager.slotModules.first?.active?.steps
            pausedUntil[epoch] = manager.slotModules.first?.active?.pausedUntilEpoch
        }
        let trainer = try GraftingTests.trainer(config, controller: controller)
        #expect(try trainer.run() == .completed)
        // 7 steps per epoch: training in 1, grafting in 2, nothing while paused in 3, grafting in 4.
        #expect(steps == [1: 7, 2: 14, 3: 14, 4: 21])
        #expect(pausedUntil[3] == 4, "held through epoch 3")
        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.pausedUntilEpoch == nil && seed.stage == .grafting && seed.alpha == 1, "the pause lifted; α kept")
        #expect(controller.results[2].accepted)
    }

    @Test func aRunResumedFromACheckpointRebuildsItsSeedsExactly() throws {
        let directory = TemporaryDirectory("kasmina-resume")
        var settings = SeedSettings()
        settings.graftSteps = 30
        var config = GraftingTests.config
        config.epochs = 4
        let id = "seed-0-0"
        let script = [0: [Commands.germinate("BP008")], 1: [Commands.operation(.startGrafting, id)]]
        let first = ScriptedController(manager: try GraftingTests.manager(settings), script: script)
        let original = try GraftingTests.trainer(config, controller: first, directory: directory.path)
        #expect(try original.run() == .completed)
        let expected = try GraftingTests.logits(original)
        let seed = try #require(first.manager.slotModules.first?.active)
        #expect(seed.stage == .grafting && seed.alpha > 0 && seed.alpha < 1)

        // A fresh process: new controller, new manager, the checkpoint names a Kasmina module.
        let second = ScriptedController(manager: try GraftingTests.manager(settings), script: [:])
        let resumed = try GraftingTests.trainer(config, controller: second, directory: directory.path)
        #expect(try resumed.resumeFromCheckpoint() == 4)
        #expect(try GraftingTests.logits(resumed).map(\.bitPattern) == expected.map(\.bitPattern))
        let rebuilt = try #require((resumed.model.slots[0].module as? SlotModule)?.active)
        #expect(rebuilt.id == id && rebuilt.stage == .grafting && rebuilt.alpha == seed.alpha && rebuilt.graftStep == seed.graftStep)
    }

    @Test func anOperatorCullThroughTheRegistryStopsTheSeedWithinABatch() throws {
        let registry = SeedRegistry()
        let manager = try GraftingTests.manager(registry: registry)
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("BP008")]])
        var steps: [Int: UInt64] = [:]
        controller.before = { epoch, manager in steps[epoch] = manager.slotModules.first?.active?.steps }
        var accepted: SeedView?
        controller.after = { epoch, _ in
            if epoch == 0 { accepted = try? registry.requestCull(runId: "grafting", seedId: "seed-0-0") }
        }
        let trainer = try GraftingTests.trainer(config, controller: controller)
        #expect(try trainer.run() == .completed)
        #expect(accepted?.cullRequested == true && accepted?.stage == "SEED_STAGE_TRAINING")
        #expect(steps[1] == 0, "culled at the first batch: the seed never stepped")
        let finished = try #require(controller.reports[1].finished.first)
        #expect(finished.cullReason == "operator" && !finished.quarantine && finished.finalStage == .cancelled)
        let view = try #require(registry.view("grafting"))
        #expect(view.seeds.first?.stage == "SEED_STAGE_CANCELLED" && view.seeds.first?.cullReason == "operator")
        #expect(throws: CullRequestError.notCullable(stage: "SEED_STAGE_CANCELLED")) {
            _ = try registry.requestCull(runId: "grafting", seedId: "seed-0-0")
        }
        #expect(throws: CullRequestError.unknownSeed) { _ = try registry.requestCull(runId: "grafting", seedId: "nope") }
        #expect(throws: CullRequestError.unknownRun) { _ = try registry.requestCull(runId: "other", seedId: "seed-0-0") }
    }
}
