import EsperTestSupport
import Foundation
import Testing
@testable import Tolaria

/// Trains real models on real (or seeded synthetic) data and checks what they learn.
@Suite struct TrainingTests {
    static func train(_ config: RunConfig, directory: String? = nil, sink: InMemoryTrainingSink = InMemoryTrainingSink()) throws
        -> (Trainer, InMemoryTrainingSink) {
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        let split = DataSplit(data, validationFraction: config.dataset.validationFraction, seed: config.seed,
                              scaling: config.dataset.effectiveScaling)
        let store = directory.map { CheckpointStore(directory: $0, keep: config.keepCheckpoints) }
        let trainer = Trainer(runId: "test", config: config, split: split, checkpoints: store, sink: sink)
        #expect(try trainer.run() == .completed)
        return (trainer, sink)
    }

    @Test func twoMoonsReaches97PercentValidationAccuracy() throws {
        var config = RunConfig(dataset: DatasetSpec(kind: .twoMoons), epochs: 60, learningRate: 0.01)
        config.model.hiddenSizes = [16, 16]
        config.seed = 42
        let (_, sink) = try Self.train(config)
        let last = try #require(sink.summaries.last)
        print("two moons", last.validationAccuracy, last.validationLoss, last.trainLoss)
        #expect(last.validationAccuracy >= 0.97)
        #expect(last.validationSamples == 200)
        #expect(last.trainSamples == 800)
    }

    @Test func digitsWithHidden32Reaches98PercentValidationAccuracy() throws {
        var config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 60, learningRate: 0.01)
        config.model.hiddenSizes = [32]
        config.batchSize = 32
        config.seed = 1
        let (_, sink) = try Self.train(config)
        let last = try #require(sink.summaries.last)
        print("digits", sink.summaries.map { String(format: "%.4f", $0.validationAccuracy) }.joined(separator: " "))
        #expect(last.validationAccuracy >= 0.98)
    }
}
