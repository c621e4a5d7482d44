import EsperTestSupport
import Foundation
import Leyline
import Synchronization
import Testing
import Tolaria

@testable import Kasmina

/// Widening seeds on a real Trainer (two moons, host 2→16→16→2): k new units beside hidden
/// layer 0 that read its input (2 features) and feed layer 1's pre-activation (16 wide).
@Suite(.serialized) struct WideningTests {
    /// widen-8 at slot-0: U 8×2, c 8, V 16×8.
    static let parameters = 8 * 2 + 8 + 16 * 8

    @Test func aWideningSeedInTrainingLeavesTheHostBitIdenticalWhileItLearns() throws {
        let plain = try GraftingTests.trainer(GraftingTests.config, controller: NoOpEpochController())
        #expect(try plain.run() == .completed)
        let manager = try GraftingTests.manager()
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("widen-8")]])
        let grafted = try GraftingTests.trainer(GraftingTests.config, controller: controller)
        #expect(try grafted.run() == .completed)

        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.isWidening && seed.stage == .training)
        #expect(seed.parameterCount == WideningTests.parameters, "ΔParams = k·(inputs + 1) + outputs·k")
        #expect(manager.isolationViolations == 0)
        #expect(GraftingTests.hostValues(grafted) == GraftingTests.hostValues(plain))
        #expect(try GraftingTests.logits(grafted).map(\.bitPattern) == GraftingTests.logits(plain).map(\.bitPattern))
        // It learned from the shadow pass: V left zero.
        let v = UnsafeBufferPointer(start: seed.group.values + 8 * 2 + 8, count: 16 * 8)
        #expect(v.contains { $0 != 0 })
        #expect(seed.lastEpoch.shadowLoss != nil && seed.lastEpoch.gradientNorm > 0)
    }

    /// The catalog id and the alias name the same blueprint: `BP052` germinates an 8-unit
    /// widening exactly like `widen-8` (same parameters, same learned values).
    @Test func theCatalogIdGerminatesLikeItsAlias() throws {
        func grow(_ blueprintId: String) throws -> (Seed, [Float]) {
            let manager = try GraftingTests.manager()
            let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate(blueprintId)]])
            let trainer = try GraftingTests.trainer(GraftingTests.config, controller: controller)
            #expect(try trainer.run() == .completed)
            let seed = try #require(manager.slotModules.first?.active)
            return (seed, Array(UnsafeBufferPointer(start: seed.group.values, count: seed.parameterCount)))
        }
        let (byId, idValues) = try grow("BP052")
        let (byAlias, aliasValues) = try grow("widen-8")
        #expect(byId.isWidening && byId.parameterCount == WideningTests.parameters && byId.origin.kind == "widen")
        #expect(byId.origin.widening == byAlias.origin.widening && idValues.map(\.bitPattern) == aliasValues.map(\.bitPattern))
        #expect(
            WideningBlueprint.units("BP051") == 4 && WideningBlueprint.units("widen-16") == 16 && WideningBlueprint.units("BP008") == nil)
        #expect(WideningBlueprint.parameters(units: 8, inputs: 64, outputs: 10) == 600)
    }

    /// Germinate at 0, graft at 1 (a 7-step ramp: one epoch), stabilise at 2, evaluate at 3,
    /// fossilise at 5 — the last epoch, so the widened host is compared with what it replaced.
    static let lifecycle: [Int: [AdaptationCommand]] = [
        0: [Commands.germinate("widen-8")], 1: [Commands.operation(.startGrafting, "seed-0-0")],
        2: [Commands.operation(.stabilize, "seed-0-0")], 3: [Commands.operation(.evaluate, "seed-0-0")],
        5: [Commands.operation(.fossilize, "seed-0-0")],
    ]

    @Test func aFossilisedWideningSeedMakesTheHostWiderWithTheSameFunction() throws {
        var settings = SeedSettings()
        settings.graftSteps = 7
        let events = Mutex<[TelemetryEvent]>([])
        let manager = SeedManager(
            runId: "grafting", settings: settings, kernels: UrzaKernelProvider(urza: try GraftingTests.library.get().urza),
            budgetMs: 1000, publish: { packet in events.withLock { $0 += packet.events } })
        let controller = ScriptedController(manager: manager, script: WideningTests.lifecycle)
        let trainer = try GraftingTests.trainer(GraftingTests.config, controller: controller)
        var before: [Float] = []
        controller.before = { epoch, _ in if epoch == 5 { before = (try? GraftingTests.logits(trainer)) ?? [] } }
        let hostBefore = trainer.model.architecture.parameterCount
        #expect(try trainer.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        #expect(trainer.model.architecture.hiddenSizes == [24, 16])
        #expect(trainer.model.architecture.parameterCount == hostBefore + WideningTests.parameters)
        #expect(trainer.model.slots[0].width == 24 && trainer.model.slots[0].module == nil)
        #expect(manager.slotModules.allSatisfy { $0.active == nil })
        let finished = try #require(controller.results.last?.finished.first)
        #expect(finished.finalStage == .fossilized && finished.parameters == WideningTests.parameters)
        // Same function (up to float summation order inside the wider GEMMs).
        let after = try GraftingTests.logits(trainer)
        #expect(before.count == after.count && !before.isEmpty)
        #expect(zip(before, after).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($0)) })
        #expect(manager.isolationViolations == 0)
        // Every transition was published once, the last one as the seed left its slot.
        let transitions = events.withLock { $0 }.filter { $0.description == "seed_transition" }.compactMap { $0.attributes["to"] }
        #expect(
            transitions
                == [
                    SeedLifecycleStage.germinating, .training, .grafting, .stabilizing, .evaluating, .fossilized,
                ].map(\.name))
    }

    @Test func aCulledWideningSeedLeavesTheExactHost() throws {
        var settings = SeedSettings()
        settings.graftSteps = 30
        let manager = try GraftingTests.manager(settings)
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(
            manager: manager,
            script: [
                0: [Commands.germinate("widen-8")], 1: [Commands.operation(.startGrafting, "seed-0-0")],
                2: [Commands.operation(.cull, "seed-0-0")],
            ])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        var blended: [Float] = [], culled: [Float] = []
        controller.before = { epoch, _ in if epoch == 2 { blended = (try? GraftingTests.logits(trainer)) ?? [] } }
        controller.after = { epoch, _ in if epoch == 2 { culled = (try? GraftingTests.logits(trainer)) ?? [] } }
        #expect(try trainer.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        #expect(trainer.model.architecture.hiddenSizes == [16, 16] && trainer.model.slots[0].module == nil)
        // While grafting the seed changed the output; culled (module still installed), the
        // output is the bare host's bit for bit.
        let bare = try GraftingTests.logits(trainer)
        #expect(blended != bare)
        #expect(culled.map(\.bitPattern) == bare.map(\.bitPattern))
    }

    @Test func aWidenedHostResumesFromItsCheckpointExactly() throws {
        let directory = TemporaryDirectory("kasmina-widen-resume")
        var settings = SeedSettings()
        settings.graftSteps = 7
        var config = GraftingTests.config
        config.epochs = 8
        let first = ScriptedController(manager: try GraftingTests.manager(settings), script: WideningTests.lifecycle)
        let original = try GraftingTests.trainer(config, controller: first, directory: directory.path)
        #expect(try original.run() == .completed)
        #expect(original.model.architecture.hiddenSizes == [24, 16])
        let expected = try GraftingTests.logits(original)

        let second = ScriptedController(manager: try GraftingTests.manager(settings), script: [:])
        let resumed = try GraftingTests.trainer(config, controller: second, directory: directory.path)
        #expect(resumed.model.architecture.hiddenSizes == [16, 16])
        #expect(try resumed.resumeFromCheckpoint() == 8)
        #expect(resumed.model.architecture.hiddenSizes == [24, 16])
        #expect(try GraftingTests.logits(resumed).map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func aRollbackAcrossAWideningRestoresTheNarrowerHostAndItWidensAgain() throws {
        let directory = TemporaryDirectory("kasmina-widen-rollback")
        var settings = SeedSettings()
        settings.graftSteps = 7
        var config = GraftingTests.config
        config.epochs = 8
        config.checkpointInterval = 4
        // The widening happens at the boundary of epoch 5; a NaN in epoch 6 rolls back to the
        // checkpoint of epoch 4, written before it (the seed still EVALUATING, the host 16 wide).
        config.faultInjection = FaultInjection(nanAtEpoch: 6)
        let controller = ScriptedController(manager: try GraftingTests.manager(settings), script: WideningTests.lifecycle)
        let sink = InMemoryTrainingSink()
        let trainer = try GraftingTests.trainer(config, controller: controller, directory: directory.path, sink: sink)
        var widths: [Int: [Int]] = [:]
        controller.before = { epoch, _ in widths[epoch, default: []].append(trainer.model.architecture.hiddenSizes[0]) }
        #expect(try trainer.run() == .completed)
        #expect(trainer.rollbacks == 1)
        #expect(widths[4] == [16, 16] && widths[5] == [16, 16], "epochs 4 and 5 ran twice on the narrower host")
        #expect(widths[6] == [24] && widths[7] == [24])
        let fossilise = controller.results.filter { $0.finished.first?.finalStage == .fossilized }
        #expect(fossilise.count == 2, "fossilised before the rollback and again after it")
        #expect(trainer.model.architecture.hiddenSizes == [24, 16])
        #expect(controller.manager.isolationViolations == 0)
    }

    @Test func aLeakingWideningKernelIsCulledAndQuarantined() throws {
        var host: UnsafeMutablePointer<Float>?
        let manager = SeedManager(
            runId: "grafting", settings: SeedSettings(), kernels: UrzaKernelProvider(urza: try GraftingTests.library.get().urza),
            budgetMs: 1000,
            makeWideningBranch: { shape, block, _ in LeakingBranch(WideningBranch(shape: shape, block: block), hostGradients: host!)
            })
        var config = GraftingTests.config
        config.epochs = 3
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("widen-8")]])
        let trainer = try GraftingTests.trainer(config, controller: controller)
        host = trainer.model.block.gradients
        #expect(try trainer.run() == .completed)
        #expect(manager.isolationViolations == 3)
        #expect(manager.guardian.violations.allSatisfy { $0.check == .seedBackwardLeak })
        let finished = try #require(controller.reports[1].finished.first)
        #expect(finished.cullReason == "isolation_breach" && finished.quarantine && finished.finalStage == .cancelled)
        #expect(trainer.model.slots[0].module == nil && trainer.model.architecture.hiddenSizes == [16, 16])
    }

    @Test func aWideningSeedWhoseInputLayerWidenedIsCulled() throws {
        var settings = SeedSettings()
        settings.graftSteps = 7
        settings.maxActiveSeeds = 2
        let manager = try GraftingTests.manager(settings)
        var script = WideningTests.lifecycle
        script[0] = [Commands.germinate("widen-8"), Commands.germinate("widen-4", slot: "slot-1")]
        var config = GraftingTests.config
        config.epochs = 7
        let controller = ScriptedController(manager: manager, script: script)
        let trainer = try GraftingTests.trainer(config, controller: controller)
        #expect(try trainer.run() == .completed)
        // slot-0's seed widened layer 0 at epoch 5; slot-1's seed read layer 1's input, 16 wide
        // when it germinated and 24 since: culled in epoch 6, finished at its boundary.
        #expect(trainer.model.architecture.hiddenSizes == [24, 16])
        let finished = try #require(controller.reports.last?.finished.first)
        #expect(finished.seedId == "seed-1-0" && finished.cullReason == "host_reshaped")
        #expect(trainer.model.slots[1].module == nil)
    }

    @Test func wideningIsRefusedOnANonReLUHost() throws {
        let manager = try GraftingTests.manager()
        var config = GraftingTests.config
        config.epochs = 1
        config.model.activation = .tanh
        let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate("widen-8")]])
        #expect(try GraftingTests.trainer(config, controller: controller).run() == .completed)
        #expect(controller.results.first?.accepted == false)
        #expect(controller.results.first?.reason?.contains("ReLU") == true)
    }
}
