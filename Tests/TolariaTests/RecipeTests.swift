import Foundation
import Testing

@testable import Tolaria

/// The training-recipe options: label smoothing in the gradient, per-epoch seeded input noise,
/// the cosine learning-rate decay at the end of a run.
@Suite struct RecipeTests {
    @Test func labelSmoothingTrainsTowardsTheSmoothedTarget() throws {
        let architecture = HostArchitecture(inputs: 3, hiddenSizes: [5], classes: 4)
        let model = HostMLP(architecture: architecture, maxBatch: 2, learningRate: 0.1, seed: 1)
        model.labelSmoothing = 0.2
        let x: [Float] = [0.5, -1, 2, 1, 0.25, -0.5]
        let labels: [Int32] = [2, 0]
        let logits = try x.withUnsafeBufferPointer {
            try Array(UnsafeBufferPointer(start: model.forward($0.baseAddress!, batch: 2, training: true), count: 8))
        }
        _ = try labels.withUnsafeBufferPointer { try model.loss(labels: $0.baseAddress!, batch: 2) }
        model.zeroGradients()
        try labels.withUnsafeBufferPointer { try model.backward(labels: $0.baseAddress!, batch: 2) }
        // The output bias gradient is Σ_b (p − t)/B with t = 0.8·one-hot + 0.05.
        var expected = [Float](repeating: 0, count: 4)
        for b in 0..<2 {
            let row = logits[(b * 4)..<(b * 4 + 4)]
            let top = row.max()!
            let e = row.map { Float(exp(Double($0 - top))) }
            let sum = e.reduce(0, +)
            for c in 0..<4 {
                let target: Float = (c == Int(labels[b]) ? 0.8 : 0) + 0.05
                expected[c] += (e[c] / sum - target) / 2
            }
        }
        let outputBias = model.hostGroups[1].gradients + 5 * 4
        for c in 0..<4 { #expect(abs(outputBias[c] - expected[c]) < 1e-5, "class \(c)") }
    }

    @Test func inputNoiseIsSeededPerEpochAndChangesTraining() throws {
        var config = TrainingTests.moons
        config.epochs = 4
        let plain = TrainingTests.curve(try TrainingTests.train(config))
        config.inputNoise = 0.2
        let noisy = TrainingTests.curve(try TrainingTests.train(config))
        #expect(noisy != plain)
        #expect(TrainingTests.curve(try TrainingTests.train(config)) == noisy, "the same seed draws the same noise")
    }

    @Test func theLearningRateDecaysOverTheLastEpochs() {
        var config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 10, learningRate: 0.01)
        #expect((0..<10).allSatisfy { config.learningRateScale(epoch: $0) == 1 }, "no decay unless asked")
        config.learningRateDecayEpochs = 4
        let scales = (0..<10).map { config.learningRateScale(epoch: $0) }
        #expect(scales[0..<6].allSatisfy { $0 == 1 })
        #expect(zip(scales[5..<9], scales[6..<10]).allSatisfy { $0 > $1 })
        #expect(scales[9] > 0 && scales[9] < 0.05)
    }
}
