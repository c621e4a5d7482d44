// tolaria-bench: times Tolaria's Swift training loop (the code a run executes) for
// docs/performance.md — one step of an MLP 784-256-256-10 at batch 128, and epoch throughput
// on digits with the default run config. Build with `swift build -c release`.
//
// usage: tolaria-bench step THREADS [EPOCHS]   → "swift_loop threads=N ms_per_step=X"
//          (median over epochs of the time per step; best_ms= the fastest epoch's)
//        tolaria-bench digits [EPOCHS]         → "digits_default samples_per_s=X epoch_ms=Y"
//        tolaria-bench conv [EPOCHS]           → "swift_conv_step ms_per_step=X" — the MNIST-1D
//          paper's CNN (issue 17) as a conv host, batch 100, Adam: 40 steps per epoch, median over
//          epochs after the first 5 (best_ms= the fastest epoch's)
import Foundation
import Kernels
import Tolaria

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}

func train(_ config: RunConfig) throws -> [EpochSummary] {
    let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
    let split = DataSplit(
        data, validationFraction: config.dataset.validationFraction, seed: config.seed,
        scaling: config.dataset.effectiveScaling)
    let sink = InMemoryTrainingSink()
    _ = try Trainer(runId: "bench", config: config, split: split, checkpoints: nil, sink: sink).run()
    return sink.summaries
}

let arguments = CommandLine.arguments
switch arguments.count > 1 ? arguments[1] : "" {
case "step":
    let threads = arguments.count > 2 ? Int(arguments[2]) ?? 1 : 1
    let epochs = arguments.count > 3 ? Int(arguments[3]) ?? 40 : 40
    Kernels.blasThreads = threads
    // 8,275 examples with a 1 % validation split leave 8,192 training rows = 64 full batches.
    var dataset = DatasetSpec(kind: .gaussianBlobs)
    dataset.samples = 8275
    dataset.features = 784
    dataset.classes = 10
    dataset.validationFraction = 0.01
    dataset.scaling = .standardize
    var config = RunConfig(dataset: dataset, epochs: epochs, learningRate: 1e-3)
    config.model.hiddenSizes = [256, 256]
    config.batchSize = 128
    config.seed = 1
    let summaries = try train(config)
    precondition(summaries.allSatisfy { $0.trainSamples == 8192 })
    // The first epochs warm caches and OpenBLAS' buffers.
    let perStep = summaries.dropFirst(5).map { $0.epochMs / 64 }
    print(
        String(
            format: "swift_loop threads=%d ms_per_step=%.4f best_ms=%.4f", threads, median(perStep),
            perStep.min() ?? 0))
case "digits":
    let epochs = arguments.count > 2 ? Int(arguments[2]) ?? 30 : 30
    Kernels.blasThreads = 1
    // The defaults of POST /api/v1/runs with the digits data set and the README's Adam 1e-2.
    let config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: epochs, learningRate: 0.01)
    let summaries = try train(config).dropFirst(3)
    print(
        String(
            format: "digits_default samples_per_s=%.0f epoch_ms=%.3f validation_ms=%.3f boundary_ms=%.4f",
            median(summaries.map(\.samplesPerSecond)), median(summaries.map(\.epochMs)),
            median(summaries.map(\.validationMs)), median(summaries.map(\.boundaryMs))))
case "conv":
    let epochs = arguments.count > 2 ? Int(arguments[2]) ?? 30 : 30
    Kernels.blasThreads = 1
    // The paper's recipe on the bundled MNIST-1D: 4,000 training rows = 40 full batches of 100.
    var config = RunConfig(dataset: DatasetSpec(kind: .mnist1d), epochs: epochs, learningRate: 0.01)
    config.model.layers = [
        .conv1d(Conv1DSpec(channels: 25, kernelSize: 5, stride: 2, padding: .explicit(1))),
        .conv1d(Conv1DSpec(channels: 25, kernelSize: 3, stride: 2, padding: .explicit(1))),
        .conv1d(Conv1DSpec(channels: 25, kernelSize: 3, stride: 2, padding: .explicit(1))),
        .flatten,
    ]
    config.batchSize = 100
    config.seed = 1
    let summaries = try train(config)
    let steps = Double(summaries[0].trainSamples / 100)
    let perStep = summaries.dropFirst(5).map { $0.epochMs / steps }
    print(
        String(
            format: "swift_conv_step ms_per_step=%.4f best_ms=%.4f train_samples=%d", median(perStep),
            perStep.min() ?? 0, summaries[0].trainSamples))
default:
    FileHandle.standardError.write(
        Data("usage: tolaria-bench step THREADS [EPOCHS] | digits [EPOCHS] | conv [EPOCHS]\n".utf8))
    exit(2)
}
