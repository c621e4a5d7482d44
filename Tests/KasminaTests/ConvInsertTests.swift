import EsperTestSupport
import Foundation
import Karn
import Kernels
import Leyline
import Testing
import Tolaria

@testable import Kasmina

/// Depth seeds (`conv-insert-3`, Karn's `depth` family) on a real Trainer: an MNIST-1D conv host
/// — conv 1→8 k5 stride 2 pad 1 (40 → 19 positions), conv 8→8 k3 stride 2 pad 1 (19 → 10),
/// flatten, the linear output — grows a residual conv (8→8, kernel 3, 'same') in `conv-slot-0`,
/// between its two conv layers, so every shadow pass runs through a later conv layer too.
@Suite(.serialized) struct ConvInsertTests {
    /// 8·3·8 + 8.
    static let parameters = 200

    static var config: RunConfig {
        var config = RunConfig(dataset: DatasetSpec(kind: .mnist1d), epochs: 2, learningRate: 3e-3)
        config.model.hiddenSizes = []
        config.model.layers = [
            .conv1d(Conv1DSpec(channels: 8, kernelSize: 5, stride: 2, padding: .explicit(1))),
            .conv1d(Conv1DSpec(channels: 8, kernelSize: 3, stride: 2, padding: .explicit(1))), .flatten,
        ]
        config.batchSize = 128
        config.seed = 5
        return config
    }

    static let lifecycle: [Int: [AdaptationCommand]] = [
        0: [Commands.germinate("conv-insert-3", slot: "conv-slot-0")], 1: [Commands.operation(.startGrafting, "seed-0-0")],
        2: [Commands.operation(.stabilize, "seed-0-0")], 3: [Commands.operation(.evaluate, "seed-0-0")],
        4: [Commands.operation(.fossilize, "seed-0-0")],
    ]

    static func trainer(
        _ config: RunConfig, controller: any EpochController, directory: String? = nil,
        sink: InMemoryTrainingSink = InMemoryTrainingSink()
    ) throws -> Trainer {
        try ConvBranchTests.trainer(config, controller: controller, directory: directory, sink: sink)
    }

    static func manager(graftSteps: Int = 7) throws -> SeedManager { try ConvBranchTests.manager(graftSteps: graftSteps) }

    static func logits(_ trainer: Trainer) throws -> [UInt32] { try ConvBranchTests.logits(trainer).map(\.bitPattern) }

    static func slot(_ trainer: Trainer, _ name: String = "conv-slot-0") -> SeedSlot? {
        trainer.model.slots.first { $0.name == name }
    }

    @Test func theHostHasAConvSlotAfterEachConvLayer() throws {
        let trainer = try ConvInsertTests.trainer(ConvInsertTests.config, controller: NoOpEpochController())
        #expect(trainer.model.slots.map(\.name) == ["conv-slot-0", "conv-slot-1"])
        #expect(trainer.model.slots.map(\.width) == [19 * 8, 10 * 8])
        #expect(trainer.model.slots.allSatisfy { $0.isConvolution })
        #expect(SeedSlot.convolution(named: "conv-slot-1") == 1 && SeedSlot.convolution(named: "slot-1") == nil)
    }

    @Test func aDepthSeedInTrainingLeavesTheHostBitIdenticalWhileItLearns() throws {
        let plain = try ConvInsertTests.trainer(ConvInsertTests.config, controller: NoOpEpochController())
        #expect(try plain.run() == .completed)
        let manager = try ConvInsertTests.manager()
        let controller = ScriptedController(
            manager: manager, script: [0: [Commands.germinate("conv-insert-3", slot: "conv-slot-0")]])
        let sink = InMemoryTrainingSink()
        let grafted = try ConvInsertTests.trainer(ConvInsertTests.config, controller: controller, sink: sink)
        #expect(try grafted.run() == .completed)
        #expect(controller.results.first?.accepted == true)

        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.slot == "conv-slot-0" && seed.addsToPreactivation && seed.stage == .training)
        #expect(seed.origin.kind == "conv_insert" && seed.origin.convInsert?.width == 19 * 8)
        #expect(seed.parameterCount == ConvInsertTests.parameters)
        let shape = try #require(seed.origin.convInsert)
        #expect(ConvInsertTests.slot(grafted)?.module?.trainingFlopsPerExample == TrainingCost.insertSeedPerExample(shape))
        #expect(manager.isolationViolations == 0)
        #expect(GraftingTests.hostValues(grafted) == GraftingTests.hostValues(plain), "isolation: no host parameter moved")
        #expect(try ConvInsertTests.logits(grafted) == ConvInsertTests.logits(plain))
        // It started at zero (the identity) and learned from the shadow pass through conv-1 and the output.
        let values = UnsafeBufferPointer(start: seed.group.values, count: ConvInsertTests.parameters)
        #expect(values.contains { $0 != 0 })
        #expect(seed.lastEpoch.shadowLoss != nil && seed.lastEpoch.gradientNorm > 0)
        // The shadow objective with the inserted layer beats the host alone on its training batches.
        let hostLoss = try #require(sink.summaries.last?.trainLoss)
        #expect(try #require(seed.lastEpoch.shadowLoss) < hostLoss)
    }

    @Test func aFossilisedDepthSeedBecomesAHostLayerWithTheSameFunction() throws {
        let manager = try ConvInsertTests.manager()
        let controller = ScriptedController(manager: manager, script: ConvInsertTests.lifecycle)
        var config = ConvInsertTests.config
        config.epochs = 5
        let trainer = try ConvInsertTests.trainer(config, controller: controller)
        var before: [UInt32] = []
        controller.before = { epoch, _ in if epoch == 4 { before = (try? ConvInsertTests.logits(trainer)) ?? [] } }
        let hostBefore = trainer.model.architecture.parameterCount
        #expect(try trainer.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        let insertions = try #require(trainer.model.architecture.insertions)
        #expect(insertions == [ConvInsertShape(after: 0, length: 19, channels: 8, kernelSize: 3, blueprint: "conv-insert-3")])
        #expect(trainer.model.architecture.parameterCount == hostBefore + ConvInsertTests.parameters)
        #expect(trainer.model.hostGroups.last?.name == "host.insert-0" && trainer.model.hostGroups.last?.frozen == false)
        #expect(ConvInsertTests.slot(trainer)?.module == nil && manager.slotModules.isEmpty)
        let finished = try #require(controller.results.last?.finished.first)
        #expect(finished.finalStage == .fossilized && finished.parameters == ConvInsertTests.parameters)
        // The host layer computes exactly what the seed added at α = 1.
        let after = try ConvInsertTests.logits(trainer)
        #expect(!before.isEmpty && before == after)
        #expect(manager.isolationViolations == 0)
        // The slot after the grown layer is open again: the layer sits between conv-0 and conv-slot-0.
        #expect(trainer.model.slots.map(\.name) == ["conv-slot-0", "conv-slot-1"])
    }

    @Test func aCulledDepthSeedLeavesTheExactHost() throws {
        let manager = try ConvInsertTests.manager(graftSteps: 60)
        var config = ConvInsertTests.config
        config.epochs = 3
        let controller = ScriptedController(
            manager: manager,
            script: [
                0: [Commands.germinate("conv-insert-3", slot: "conv-slot-0")], 1: [Commands.operation(.startGrafting, "seed-0-0")],
                2: [Commands.operation(.cull, "seed-0-0")],
            ])
        let trainer = try ConvInsertTests.trainer(config, controller: controller)
        var blended: [UInt32] = [], culled: [UInt32] = []
        controller.before = { epoch, _ in if epoch == 2 { blended = (try? ConvInsertTests.logits(trainer)) ?? [] } }
        controller.after = { epoch, _ in if epoch == 2 { culled = (try? ConvInsertTests.logits(trainer)) ?? [] } }
        #expect(try trainer.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        #expect(trainer.model.architecture.insertions == nil && ConvInsertTests.slot(trainer)?.module == nil)
        let bare = try ConvInsertTests.logits(trainer)
        #expect(!blended.isEmpty && blended != bare)
        #expect(culled == bare)
    }

    @Test func aHostWithAnInsertedLayerResumesFromItsCheckpointExactly() throws {
        let directory = TemporaryDirectory("kasmina-conv-insert-resume")
        var config = ConvInsertTests.config
        config.epochs = 6
        let first = ScriptedController(manager: try ConvInsertTests.manager(), script: ConvInsertTests.lifecycle)
        let original = try ConvInsertTests.trainer(config, controller: first, directory: directory.path)
        #expect(try original.run() == .completed)
        #expect(original.model.architecture.insertions?.count == 1)
        let expected = try ConvInsertTests.logits(original)

        let second = ScriptedController(manager: try ConvInsertTests.manager(), script: [:])
        let resumed = try ConvInsertTests.trainer(config, controller: second, directory: directory.path)
        #expect(resumed.model.architecture.insertions == nil)
        #expect(try resumed.resumeFromCheckpoint() == 6)
        #expect(resumed.model.architecture == original.model.architecture)
        #expect(try ConvInsertTests.logits(resumed) == expected)
    }

    /// Resumed mid-run (epoch 3, the seed live in its conv slot and blended), the run goes on
    /// through the fossilisation to the same curve and the same final host as one that never stopped.
    @Test func aRunResumedBeforeTheFossilisationGivesTheSameCurve() throws {
        let directory = TemporaryDirectory("kasmina-conv-insert-midrun")
        var config = ConvInsertTests.config
        config.epochs = 6
        let straightSink = InMemoryTrainingSink(), resumedSink = InMemoryTrainingSink()
        let straight = try ConvInsertTests.trainer(
            config, controller: ScriptedController(manager: try ConvInsertTests.manager(), script: ConvInsertTests.lifecycle),
            sink: straightSink)
        #expect(try straight.run() == .completed)

        var short = config
        short.epochs = 3
        let stopped = try ConvInsertTests.trainer(
            short, controller: ScriptedController(manager: try ConvInsertTests.manager(), script: ConvInsertTests.lifecycle),
            directory: directory.path)
        #expect(try stopped.run() == .completed)
        let resumed = try ConvInsertTests.trainer(
            config, controller: ScriptedController(manager: try ConvInsertTests.manager(), script: ConvInsertTests.lifecycle),
            directory: directory.path, sink: resumedSink)
        #expect(try resumed.resumeFromCheckpoint() == 3)
        #expect(try resumed.run() == .completed)
        #expect(resumed.model.architecture == straight.model.architecture)
        #expect(resumed.model.architecture.insertions?.count == 1)
        #expect(resumedSink.summaries.map(\.trainLoss) == Array(straightSink.summaries.map(\.trainLoss).suffix(3)))
        #expect(try ConvInsertTests.logits(resumed) == ConvInsertTests.logits(straight))
    }

    /// Isolation from the real buffers: a depth kernel that writes into the host's gradients is
    /// caught by I2 around its shadow backward, culled after three violations and its blueprint
    /// quarantined; the host never changes shape.
    @Test func aLeakingDepthKernelIsCulledAndQuarantined() throws {
        var host: UnsafeMutablePointer<Float>?
        let manager = SeedManager(
            runId: "conv-insert", settings: SeedSettings(), kernels: UrzaKernelProvider(urza: try GraftingTests.library.get().urza),
            budgetMs: 1000,
            makeConvInsert: { shape, block, _ in LeakingBranch(ConvInsertSeed(shape: shape, block: block), hostGradients: host!) })
        let controller = ScriptedController(
            manager: manager, script: [0: [Commands.germinate("conv-insert-3", slot: "conv-slot-0")]])
        let trainer = try ConvInsertTests.trainer(ConvInsertTests.config, controller: controller)
        host = trainer.model.block.gradients
        #expect(try trainer.run() == .completed)
        #expect(manager.isolationViolations == 3)
        #expect(manager.guardian.violations.allSatisfy { $0.check == .seedBackwardLeak })
        let finished = try #require(controller.reports[1].finished.first)
        #expect(finished.cullReason == "isolation_breach" && finished.quarantine && finished.finalStage == .cancelled)
        #expect(ConvInsertTests.slot(trainer)?.module == nil && trainer.model.architecture.insertions == nil)
    }

    @Test func depthSeedsGrowInConvSlotsOnlyAndConvSlotsTakeNothingElse() throws {
        let manager = try ConvInsertTests.manager()
        var config = ConvInsertTests.config
        config.epochs = 1
        config.model.layers = (config.model.layers ?? []) + [.dense(units: 8)]
        let controller = ScriptedController(
            manager: manager,
            script: [
                0: [
                    Commands.germinate("conv-insert-3", slot: "slot-0"), Commands.germinate("widen-8", slot: "conv-slot-1"),
                    Commands.germinate("conv-insert-5", slot: "conv-slot-1"),
                ]
            ])
        #expect(try ConvInsertTests.trainer(config, controller: controller).run() == .completed)
        #expect(controller.results.map(\.accepted) == [false, false, true])
        #expect(controller.results[0].reason?.contains("conv slot") == true)
        #expect(controller.results[1].reason?.contains("depth blueprints only") == true)
        #expect(manager.slotModules.first?.active?.origin.convInsert?.kernelSize == 5)

        // Fit checks the run config goes through (Tamiyo's 422 names seeds.blueprints[i]).
        let mlp = HostArchitecture(inputs: 40, hiddenSizes: [8], classes: 10)
        #expect(ConvBranchSeedBlueprint.misfit("conv-insert-3", slots: [0], architecture: mlp)?.contains("declares none") == true)
        #expect(ConvInsertSeedBlueprint.addedParameters("BP057", slot: "slot-0", architecture: mlp) == nil)
        let conv = HostArchitecture(
            model: config.model, inputs: 40, classes: 10)
        #expect(ConvBranchSeedBlueprint.misfit("conv-insert-3", slots: [0], architecture: conv) == nil)
        #expect(ConvInsertSeedBlueprint.addedParameters("conv-insert-3", slot: "conv-slot-1", architecture: conv) == 200)
        #expect(ConvInsertSeedBlueprint.addedParameters("BP058", slot: "conv-slot-0", architecture: conv) == 8 * 5 * 8 + 8)
        #expect(ConvInsertSeedBlueprint.addedParameters("conv-insert-3", slot: "conv-slot-2", architecture: conv) == nil)
        #expect(ConvInsertSeedBlueprint.addedParameters("widen-8", slot: "conv-slot-0", architecture: conv) == nil)
    }

    /// A host with an inserted conv, its values drawn at random: `HostMLP` and its loss for a
    /// fixed batch of MNIST-1D rows.
    static func insertedHost(hidden: Bool, linear: Bool = false) throws -> (model: HostMLP, features: [Float], labels: [Int32]) {
        var model = ConvInsertTests.config.model
        if linear {
            model.layers = [
                .conv1d(Conv1DSpec(channels: 8, kernelSize: 5, stride: 2, padding: .explicit(1), activation: .identity)),
                .conv1d(Conv1DSpec(channels: 8, kernelSize: 3, stride: 2, padding: .explicit(1), activation: .identity)), .flatten,
            ]
        }
        if hidden { model.layers = (model.layers ?? []) + [.dense(units: 6)] }
        let shape = ConvInsertShape(after: 0, length: 19, channels: 8, kernelSize: 3, blueprint: "conv-insert-3")
        let architecture = HostArchitecture(model: model, inputs: 40, classes: 10).inserting(shape)
        let host = HostMLP(architecture: architecture, maxBatch: 16, learningRate: 1e-3, seed: 3)
        var rng = RandomGenerator(seed: 9, stream: .initialisation)
        let group = try #require(host.hostGroups.first { $0.name == "host.insert-0" })
        for i in 0..<group.count { group.values[i] = 0.2 * rng.normal() }
        let data = try DatasetLoader(directory: "/nonexistent").load(DatasetSpec(kind: .mnist1d), runSeed: 1)
        return (host, Array(data.features.prefix(16 * 40)), Array(data.labels.prefix(16)))
    }

    /// The fossilised layer is host: its backward (∂L/∂W, ∂L/∂b, and δ + convᵀ(δ) into the
    /// conv layer before it) agrees with central finite differences of the loss. The host's conv
    /// layers are linear here: with ReLU, units sitting exactly on the kink (zero bias over a
    /// zero-padded window gives z = 0) make the finite differences average the two slopes.
    @Test func anInsertedHostLayerBackpropagatesLikeItsFiniteDifferences() throws {
        let (host, features, labels) = try ConvInsertTests.insertedHost(hidden: false, linear: true)
        func loss() throws -> Double {
            try host.forward(features, batch: 16, training: false)
            return Double(try host.loss(labels: labels, batch: 16).loss)
        }
        host.zeroGradients()
        try host.forward(features, batch: 16, training: true)
        _ = try host.loss(labels: labels, batch: 16)
        try host.backward(labels: labels, batch: 16)
        var worst = 0.0
        var detail = ""
        for name in ["host.insert-0", "host.conv-0"] {
            let group = try #require(host.hostGroups.first { $0.name == name })
            for index in stride(from: 0, to: group.count, by: max(1, group.count / 12)) {
                let saved = group.values[index]
                group.values[index] = saved + 1e-3
                let plus = try loss()
                group.values[index] = saved - 1e-3
                let minus = try loss()
                group.values[index] = saved
                let numeric = (plus - minus) / 2e-3
                let error = abs(numeric - Double(group.gradients[index])) / max(1e-2, abs(numeric))
                if error > 5e-2 { detail += "\(name)[\(index)] numeric \(numeric) analytic \(group.gradients[index]); " }
                worst = max(worst, error)
            }
        }
        #expect(worst < 5e-2, "worst relative error \(worst): \(detail)")
    }

    /// The input gradient an inserted conv hands back (through `ck_conv1d_backward`, 'same'
    /// padding, stride 1) against the written-out transpose convolution in double.
    @Test func theInsertedConvsInputGradientIsTheTransposeConvolution() throws {
        let (batch, length, channels, kernel) = (16, 19, 8, 3)
        let shape = ConvInsertShape(after: 0, length: length, channels: channels, kernelSize: kernel, blueprint: "conv-insert-3")
        var rng = RandomGenerator(seed: 4, stream: .initialisation)
        let block = ParameterBlock(count: shape.parameterCount)
        for i in 0..<shape.parameterCount { block.values[i] = rng.normal() }
        let runner = ConvInsertRunner(shape: shape, parameters: block.values, gradients: block.gradients)
        let h = (0..<(batch * shape.width)).map { _ in rng.normal() }
        let delta = (0..<(batch * shape.width)).map { _ in rng.normal() }
        var s = [Float](repeating: 0, count: batch * shape.width), dx = s
        try runner.forward(h, into: &s, batch: batch)
        try runner.backward(delta, inputGradient: &dx)
        var worst = 0.0
        for b in 0..<batch {
            for p in 0..<length {
                for i in 0..<channels {
                    var sum = 0.0
                    for j in 0..<kernel {
                        let t = p - j + (kernel - 1) / 2
                        guard t >= 0 && t < length else { continue }
                        for o in 0..<channels {
                            sum += Double(delta[(b * length + t) * channels + o]) * Double(block.values[(o * kernel + j) * channels + i])
                        }
                    }
                    worst = max(worst, abs(sum - Double(dx[(b * length + p) * channels + i])))
                }
            }
        }
        #expect(worst < 1e-4, "max |dx − reference| = \(worst)")
    }

    /// Widening a dense layer of a host with an inserted conv keeps the inserted layer's values
    /// (its group is last in the block in both hosts) and, with zero outgoing weights, the function.
    @Test func wideningAHostWithAnInsertedLayerKeepsIt() throws {
        let (host, features, _) = try ConvInsertTests.insertedHost(hidden: true)
        let before = Array(UnsafeBufferPointer(start: try host.forward(features, batch: 16, training: false), count: 160))
        let units = WideningUnits(
            units: 2, incoming: Array(repeating: 0.1, count: 2 * 80), bias: [0, 0], outgoing: Array(repeating: 0, count: 10 * 2))
        let wider = host.widened(layer: 0, by: units)
        let old = try #require(host.hostGroups.first { $0.name == "host.insert-0" })
        let new = try #require(wider.hostGroups.first { $0.name == "host.insert-0" })
        #expect(
            Array(UnsafeBufferPointer(start: new.values, count: new.count))
                == Array(UnsafeBufferPointer(start: old.values, count: old.count)))
        #expect(wider.architecture.insertions == host.architecture.insertions && wider.architecture.hiddenSizes == [8])
        let after = Array(UnsafeBufferPointer(start: try wider.forward(features, batch: 16, training: false), count: 160))
        #expect(zip(before, after).allSatisfy { abs($0 - $1) <= 1e-5 })
    }

    @Test func karnCatalogsTheDepthFamilyAfterTheStructureFamily() throws {
        let karn = try KarnCatalog()
        let template = try #require(karn.template("conv-insert-3"))
        #expect(template.id == "BP057" && template.family == "depth" && template.isHostShaped && template.tier == .safe)
        #expect(karn.template("conv-insert-5")?.id == "BP058")
        #expect(karn.all().last?.id == "BP058")
        #expect(WideningCatalog.alias("BP057") == "conv-insert-3")
    }

    /// CI-sized growth on MNIST-1D (test split): the conv host grows a depth seed through
    /// every stage; it fossilises, the architecture has one more conv layer, and the grown
    /// host is no worse on the test rows than the same host trained without it.
    @Test func aConvHostGrowsALayerOnMNIST1D() throws {
        var config = ConvInsertTests.config
        config.epochs = 8
        let growSink = InMemoryTrainingSink(), bareSink = InMemoryTrainingSink()
        let manager = try ConvInsertTests.manager()
        let controller = ScriptedController(manager: manager, script: ConvInsertTests.lifecycle)
        let grown = try ConvInsertTests.trainer(config, controller: controller, sink: growSink)
        let before = grown.model.architecture
        #expect(try grown.run() == .completed)
        #expect(controller.results.allSatisfy { $0.accepted })
        #expect(controller.results.last?.finished.first?.finalStage == .fossilized)
        #expect(grown.model.architecture != before && grown.model.architecture.insertions?.count == 1)
        #expect(grown.model.architecture.parameterCount == before.parameterCount + ConvInsertTests.parameters)
        let bare = try ConvInsertTests.trainer(config, controller: NoOpEpochController(), sink: bareSink)
        #expect(try bare.run() == .completed)
        let grownAccuracy = try #require(growSink.summaries.last?.validationAccuracy)
        let bareAccuracy = try #require(bareSink.summaries.last?.validationAccuracy)
        #expect(growSink.summaries.last?.heldOutSplit == .test)
        #expect(grownAccuracy >= bareAccuracy, "grown \(grownAccuracy) vs bare \(bareAccuracy)")
    }
}
