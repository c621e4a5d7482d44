import EsperStorage
import EsperTestSupport
import Foundation
import Kernels
import Testing

@testable import Tolaria

/// Trains real models on real (or seeded synthetic) data and checks what they learn, that
/// identical configs give identical numbers, and that checkpoints, rollback and the
/// end-of-epoch hook work.
@Suite struct TrainingTests {
    static func split(_ config: RunConfig) throws -> DataSplit {
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        return DataSplit(
            data, validationFraction: config.dataset.validationFraction, seed: config.seed,
            scaling: config.dataset.effectiveScaling)
    }

    static func trainer(
        _ config: RunConfig, directory: String? = nil, sink: InMemoryTrainingSink = InMemoryTrainingSink(),
        controller: any EpochController = NoOpEpochController(),
        control: any TrainingControl = UninterruptedTraining()
    ) throws -> Trainer {
        let store = directory.map { CheckpointStore(directory: $0, keep: config.keepCheckpoints) }
        return Trainer(
            runId: "test", config: config, split: try split(config), checkpoints: store, sink: sink,
            controller: controller, control: control)
    }

    static func train(
        _ config: RunConfig, directory: String? = nil, controller: any EpochController = NoOpEpochController()
    )
        throws -> InMemoryTrainingSink
    {
        let sink = InMemoryTrainingSink()
        let trainer = try trainer(config, directory: directory, sink: sink, controller: controller)
        #expect(try trainer.run() == .completed)
        return sink
    }

    static var moons: RunConfig {
        var config = RunConfig(dataset: DatasetSpec(kind: .twoMoons), epochs: 60, learningRate: 0.01)
        config.model.hiddenSizes = [16, 16]
        config.seed = 42
        return config
    }

    /// The numbers two runs must agree on bit for bit.
    static func curve(_ sink: InMemoryTrainingSink) -> [[Double]] {
        sink.summaries.map {
            [$0.trainLoss, $0.trainAccuracy, $0.validationLoss, $0.validationAccuracy, $0.gradientNorm, Double($0.globalStep)]
        }
    }

    @Test func twoMoonsReaches97PercentValidationAccuracy() throws {
        let sink = try Self.train(Self.moons)
        let last = try #require(sink.summaries.last)
        #expect(last.validationAccuracy >= 0.97)
        #expect(last.validationSamples == 200)
        #expect(last.trainSamples == 800)
        // Sample-weighted mean loss: the first epoch of an untrained net is near ln 2, not ln 2 / batch size.
        #expect(sink.summaries[0].trainLoss > 0.2)
        #expect(last.globalStep == Int64(60 * 25))
        #expect(sink.summaries.map(\.epoch) == Array(0..<60))
        // The telemetry of the spec, judged on the boundary, not on the whole epoch.
        #expect(
            Set(last.telemetryMetrics.map(\.name)).isSuperset(of: [
                "tolaria.training.loss", "tolaria.training.accuracy",
                "tolaria.training.latency_ms", "tolaria.seeds.active",
            ]))
        #expect(
            last.health(epochTimeBudgetMs: .infinity).summary
                == (last.boundaryMs > Trainer.boundaryBudgetMs ? "epoch_hook_latency_high" : "stable"))
        #expect(last.health(epochTimeBudgetMs: last.epochMs / 2) == (.degraded, "latency_high"))
    }

    @Test func digitsWithHidden32Reaches98PercentValidationAccuracy() throws {
        var config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 60, learningRate: 0.01)
        config.model.hiddenSizes = [32]
        config.batchSize = 32
        config.seed = 1
        let sink = try Self.train(config)
        let last = try #require(sink.summaries.last)
        #expect(last.validationAccuracy >= 0.98)
        #expect(last.validationSamples == 359)
        // Validation numbers come from the held-out split, not the training statistics.
        #expect(last.validationLoss != last.trainLoss)
    }

    @Test(arguments: [SyntheticTask.twoSpirals, .xor, .checkerboard, .gaussianBlobs])
    func syntheticTasksAreLearnable(task: SyntheticTask) throws {
        var config = RunConfig(dataset: DatasetSpec(kind: DatasetSpec.Kind(rawValue: task.rawValue)!), epochs: 150, learningRate: 0.01)
        config.model.hiddenSizes = [64, 64]
        config.seed = 7
        let last = try #require(try Self.train(config).summaries.last)
        #expect(last.validationAccuracy >= 0.9, "\(task): \(last.validationAccuracy)")
    }

    @Test func identicalConfigAndSeedGiveIdenticalLossCurves() throws {
        for optimizer in OptimizerSettings.Kind.allCases {
            var config = Self.moons
            config.epochs = 15
            config.optimizer = optimizer
            config.gradientAccumulationSteps = 3
            config.gradientClipNorm = 1
            let first = Self.curve(try Self.train(config))
            let second = Self.curve(try Self.train(config))
            #expect(first == second, "\(optimizer)")
            config.seed = 43
            #expect(Self.curve(try Self.train(config)) != first, "another seed, another curve")
        }
    }

    /// Stops the trainer like a server shutdown would, after a given number of batches.
    final class SuspendAfter: TrainingControl, @unchecked Sendable {
        var remaining: Int
        init(batches: Int) { remaining = batches }
        func batchBoundary() -> TrainingDirective {
            remaining -= 1
            return remaining < 0 ? .suspend : .proceed
        }
    }

    @Test func aRunResumedFromItsCheckpointMatchesAnUninterruptedRun() throws {
        var config = Self.moons
        config.epochs = 12
        config.checkpointInterval = 4
        let reference = Self.curve(try Self.train(config))

        let directory = TemporaryDirectory()
        let firstSink = InMemoryTrainingSink()
        // 25 batches per epoch: suspend in the middle of epoch 6, after the checkpoint of epoch 4.
        let first = try Self.trainer(config, directory: directory.path, sink: firstSink, control: SuspendAfter(batches: 6 * 25 + 10))
        #expect(try first.run() == .suspended)
        #expect(firstSink.summaries.count == 6)

        let secondSink = InMemoryTrainingSink()
        let second = try Self.trainer(config, directory: directory.path, sink: secondSink)
        #expect(try second.resumeFromCheckpoint() == 4)
        #expect(try second.run() == .completed)
        #expect(
            Array(firstSink.summaries.prefix(4)).map { [$0.trainLoss, $0.validationLoss] }
                + secondSink.summaries.map { [$0.trainLoss, $0.validationLoss] } == reference.map { [$0[0], $0[2]] })
        #expect(Self.curve(secondSink) == Array(reference.suffix(8)))
    }

    @Test func injectedNaNRollsBackToTheLastCheckpointAndRecovers() throws {
        var config = Self.moons
        config.epochs = 30
        config.checkpointInterval = 2
        config.faultInjection = FaultInjection(nanAtEpoch: 5, nanAtBatch: 3)
        let directory = TemporaryDirectory()
        let sink = InMemoryTrainingSink()
        let trainer = try Self.trainer(config, directory: directory.path, sink: sink)
        #expect(try trainer.run() == .completed)
        let nonFinite = sink.events.filter { $0.kind == .lossNonFinite }
        let rollbacks = sink.events.filter { $0.kind == .rollback }
        #expect(nonFinite.count == 1)
        #expect(rollbacks.count == 1)
        #expect(rollbacks.first?.attributes["to_epoch"] == "4")
        #expect(rollbacks.first?.attributes["from_epoch"] == "5")
        #expect(trainer.rollbacks == 1)
        // The checkpoint holds 4 finished epochs: epoch 4 is trained (and reported) again after
        // the rollback; every reported number is finite.
        #expect(sink.summaries.map(\.epoch) == Array(0...4) + Array(4..<30))
        #expect(sink.summaries.allSatisfy { $0.trainLoss.isFinite && $0.validationLoss.isFinite })
        #expect(sink.summaries.last!.learningRates["host.output"] == Float(0.005))
        #expect(sink.summaries.last!.validationAccuracy >= 0.97)
    }

    @Test func divergenceBeyondTheRollbackBudgetFailsTheRun() throws {
        var config = Self.moons
        config.epochs = 5
        config.rollback.maxRollbacks = 0
        config.faultInjection = FaultInjection(nanAtEpoch: 1)
        let trainer = try Self.trainer(config, directory: TemporaryDirectory().path)
        #expect(throws: TrainingFailure.self) { try trainer.run() }
    }

    @Test func aCorruptNewestCheckpointFallsBackToTheOlderOne() throws {
        var config = Self.moons
        config.epochs = 6
        config.checkpointInterval = 2
        let directory = TemporaryDirectory()
        _ = try Self.train(config, directory: directory.path)
        let store = CheckpointStore(directory: directory.path, keep: 3)
        #expect(store.available().map(\.epoch) == [6, 4, 2])
        let newest = store.available()[0].path
        var bytes = try #require(FileManager.default.contents(atPath: newest))
        bytes[100] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: newest))
        #expect(store.latest()?.metadata.epoch == 4)
    }

    @Test func aResumeThatSkipsACorruptCheckpointSaysWhichAndWhyAndKeepsIt() throws {
        var config = Self.moons
        config.epochs = 6
        config.checkpointInterval = 2
        let directory = TemporaryDirectory()
        _ = try Self.train(config, directory: directory.path)
        let store = CheckpointStore(directory: directory.path, keep: 3)
        let newest = store.available()[0].path
        var bytes = try #require(FileManager.default.contents(atPath: newest))
        bytes[100] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: newest))
        let sink = InMemoryTrainingSink()
        let trainer = try Self.trainer(config, directory: directory.path, sink: sink)
        #expect(try trainer.resumeFromCheckpoint() == 4)
        let event = try #require(sink.events.first { $0.kind == .checkpointFailed })
        #expect(event.epoch == 6 && event.message.contains("checksum mismatch") && event.message.contains("epoch 4"))
        #expect(event.attributes["file"] == newest)
        let kept = try #require(event.attributes["quarantine"])
        #expect(kept.hasPrefix(directory.path + "/quarantine/") && FileManager.default.fileExists(atPath: kept))
        #expect(!FileManager.default.fileExists(atPath: newest))
        #expect(Repairs.shared.recent.contains { $0.component == "tolaria" && $0.file == newest && $0.action == "skipped" })
    }

    /// Multiplies the slot's activation by a learned per-feature scale (starts at 1).
    final class ScaleModule: SeedSlotModule {
        let block: ParameterBlock
        let group: ParameterGroup
        var forwardCalls = 0
        init(width: Int, learningRate: Float) {
            block = ParameterBlock(count: width)
            block.values.update(repeating: 1, count: width)
            group = ParameterGroup(name: "seed.scale", block: block, offset: 0, count: width, learningRate: learningRate)
        }
        var kind: String { "test.scale" }
        var parameterGroups: [ParameterGroup] { [group] }
        func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, width: Int, training: Bool) throws {
            forwardCalls += 1
            for b in 0..<batch { for j in 0..<width { output[b * width + j] = input[b * width + j] * block.values[j] } }
        }
        func backward(
            outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
            output: UnsafePointer<Float>, batch: Int, width: Int
        ) throws {
            for b in 0..<batch {
                for j in 0..<width {
                    inputGradient[b * width + j] = outputGradient[b * width + j] * block.values[j]
                    block.gradients[j] += outputGradient[b * width + j] * input[b * width + j]
                }
            }
        }
        func checkpointState() -> [UInt8] { [] }
        func restore(checkpointState: [UInt8]) throws {}
    }

    /// Grafts a module at a given epoch, the way Kasmina will.
    final class GraftingController: EpochController {
        let epoch: Int
        let module: any SeedSlotModule
        var seen: [Int] = []
        init(epoch: Int, module: any SeedSlotModule) {
            self.epoch = epoch
            self.module = module
        }
        func endOfEpoch(_ state: EpochState) throws -> [EpochDecision] {
            seen.append(state.summary.epoch)
            #expect(state.slots.map(\.name) == ["slot-0", "slot-1"])
            return state.summary.epoch == epoch
                ? [.install(module: module, slot: "slot-1"), .setFrozen(group: "host.layer-0", frozen: true)] : []
        }
    }

    @Test func aGraftedModuleRunsInTheLoopAndItsParametersTrain() throws {
        var config = Self.moons
        config.epochs = 10
        let module = ScaleModule(width: 16, learningRate: 0.01)
        let controller = GraftingController(epoch: 4, module: module)
        let sink = try Self.train(config, controller: controller)
        #expect(controller.seen == Array(0..<10))
        #expect(module.forwardCalls > 0)
        #expect(module.group.step == 5 * 25)
        #expect((0..<16).contains { module.block.values[$0] != 1 }, "the seed's own parameters were stepped")
        #expect(sink.summaries[4].slots[1].module == "test.scale")
        #expect(sink.summaries[4].slots[1].parameters == 16)
        #expect(sink.summaries[3].slots[1].module == "identity")
        #expect(sink.summaries.last!.boundaryMs >= sink.summaries.last!.controllerMs)
    }

    @Test func aFrozenGroupKeepsItsWeights() throws {
        var config = Self.moons
        config.epochs = 3
        let trainer = try Self.trainer(config)
        trainer.model.hostGroups[0].frozen = true
        let before = Array(UnsafeBufferPointer(start: trainer.model.hostGroups[0].values, count: trainer.model.hostGroups[0].count))
        #expect(try trainer.run() == .completed)
        #expect(Array(UnsafeBufferPointer(start: trainer.model.hostGroups[0].values, count: trainer.model.hostGroups[0].count)) == before)
        #expect(trainer.model.hostGroups[1].step == 75)
    }

    final class StopController: EpochController {
        func endOfEpoch(_ state: EpochState) throws -> [EpochDecision] {
            state.summary.epoch == 2 ? [.setLearningRate(group: "host.output", learningRate: 0.5), .stop(reason: "enough")] : []
        }
    }

    @Test func theControllerCanChangeLearningRatesAndEndTheRun() throws {
        var config = Self.moons
        config.epochs = 10
        let sink = InMemoryTrainingSink()
        let trainer = try Self.trainer(config, sink: sink, controller: StopController())
        #expect(try trainer.run() == .stoppedByController(reason: "enough"))
        #expect(sink.summaries.count == 3)
        #expect(sink.summaries.last?.learningRates["host.output"] == 0.5)
        #expect(sink.events.map(\.kind).filter { $0 != .epochHookLatencyHigh } == [.controllerStop])
    }
}
