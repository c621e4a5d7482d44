import EsperJSON
import EsperTestSupport
import Foundation
import Kernels
import Testing

@testable import Tolaria

/// Conv hosts (`model.layers`), MNIST-1D with its published test split, fixed held-out
/// splits for files, and training-FLOP accounting.
@Suite struct ConvHostTests {
    /// The paper's CNN (Greydanus & Kobak, MNIST-1D): conv 1→25 k5, 25→25 k3, 25→25 k3, all
    /// stride 2 with one zero of padding each side and ReLU, then a linear layer: 5,210 parameters.
    static let paperLayers = """
        [{"kind": "conv1d", "channels": 25, "kernel_size": 5, "stride": 2, "padding": 1, "activation": "relu"},
         {"kind": "conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
         {"kind": "conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
         {"kind": "flatten"}]
        """

    static func parse(_ text: String) throws -> RunConfig { try RunConfig.parse(.parse(text)) }

    static func problems(_ text: String) throws -> [JSONFieldProblem] {
        do {
            _ = try parse(text)
            return []
        } catch let error as RunConfigError {
            return error.problems
        }
    }

    static func split(_ config: RunConfig) throws -> DataSplit {
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        return DataSplit(data, spec: config.dataset, seed: config.seed)
    }

    @Test func theBundledMNIST1DLoadsWithThePapersSplit() throws {
        let spec = DatasetSpec(kind: .mnist1d)
        let data = try DatasetLoader(directory: "/nonexistent").load(spec, runSeed: 3)
        #expect(data.count == 5000 && data.featureCount == 40 && data.classCount == 10 && data.testRows == 1000)
        #expect(spec.heldOutSplit == .test)
        let split = DataSplit(data, spec: spec, seed: 3)
        #expect(split.training.count == 4000 && split.validation.count == 1000 && split.heldOut == .test)
        // Rows 1–4,000 train in file order, rows 4,001–5,000 are the test split (no shuffle, no scaling).
        #expect(Array(split.training.features.prefix(40)) == Array(data.features.prefix(40)))
        #expect(Array(split.validation.features.prefix(40)) == Array(data.features[(4000 * 40)..<(4001 * 40)]))
        #expect(split.validation.labels == Array(data.labels[4000...]))
        // The same rows whatever the run seed.
        #expect(DataSplit(data, spec: spec, seed: 99).validation == split.validation)
    }

    @Test func csvFilesCanNameAFixedTestSplit() throws {
        let directory = TemporaryDirectory()
        var rows = ""
        for i in 0..<10 { rows += "\(i),\(Double(i) * 0.5),\(i % 2)\n" }
        try Data(rows.utf8).write(to: URL(fileURLWithPath: directory.path + "/train.csv"))
        try Data("100,1,0\n101,2,1\n102,3,1\n".utf8).write(to: URL(fileURLWithPath: directory.path + "/test.csv"))
        let loader = DatasetLoader(directory: directory.path)

        let lastRows = try Self.parse(
            #"{"dataset": {"kind": "csv", "path": "train.csv", "test_rows": 4}, "epochs": 1, "learning_rate": 0.1}"#)
        let data = try loader.load(lastRows.dataset, runSeed: 0)
        let split = DataSplit(data, spec: lastRows.dataset, seed: 0)
        #expect(split.heldOut == .test && split.training.count == 6 && split.validation.features.first == 6)

        let secondFile = try Self.parse(
            #"{"dataset": {"kind": "csv", "path": "train.csv", "test_path": "test.csv"}, "epochs": 1, "learning_rate": 0.1}"#)
        let both = DataSplit(try loader.load(secondFile.dataset, runSeed: 0), spec: secondFile.dataset, seed: 0)
        #expect(both.training.count == 10 && both.validation.count == 3 && both.validation.features.first == 100)

        // A random fraction stays the default, and says so.
        let random = try Self.parse(#"{"dataset": {"kind": "csv", "path": "train.csv"}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(DataSplit(try loader.load(random.dataset, runSeed: 0), spec: random.dataset, seed: 0).heldOut == .validation)

        let tooMany = try Self.parse(
            #"{"dataset": {"kind": "csv", "path": "train.csv", "test_rows": 10}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(throws: RunConfigError.self) { try loader.load(tooMany.dataset, runSeed: 0) }
        let fields = try Self.problems(
            #"{"dataset": {"kind": "mnist1d", "validation_fraction": 0.2, "path": "x.csv"}, "epochs": 1, "learning_rate": 0.1}"#
        ).map(\.field)
        #expect(Set(fields) == ["dataset.validation_fraction", "dataset.path"])
        let clash = try Self.problems(
            #"{"dataset": {"kind": "csv", "path": "a.csv", "test_rows": 3, "test_path": "b.csv"}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(clash.map(\.field) == ["dataset.test_rows"])
    }

    @Test func idxFilesCanNameATestPair() throws {
        let directory = TemporaryDirectory()
        func write(_ data: Data, _ name: String) throws { try data.write(to: URL(fileURLWithPath: directory.path + "/" + name)) }
        try write(DataTests.idx(type: 0x08, dimensions: [3, 2, 2], payload: Array(0..<12)), "img.idx")
        try write(DataTests.idx(type: 0x08, dimensions: [3], payload: [0, 1, 1]), "lab.idx")
        try write(DataTests.idx(type: 0x08, dimensions: [2, 2, 2], payload: Array(100..<108)), "test-img.idx")
        try write(DataTests.idx(type: 0x08, dimensions: [2], payload: [1, 0]), "test-lab.idx")
        try write(DataTests.idx(type: 0x08, dimensions: [2, 3], payload: Array(0..<6)), "narrow.idx")
        let config = try Self.parse(
            #"{"dataset": {"kind": "idx", "images": "img.idx", "labels": "lab.idx", "test_images": "test-img.idx", "test_labels": "test-lab.idx", "scaling": "none"}, "epochs": 1, "learning_rate": 0.1}"#
        )
        let loader = DatasetLoader(directory: directory.path)
        let split = DataSplit(try loader.load(config.dataset, runSeed: 0), spec: config.dataset, seed: 0)
        #expect(split.heldOut == .test && split.training.count == 3 && split.validation.count == 2)
        #expect(split.validation.features == (100..<108).map(Float.init) && split.validation.labels == [1, 0])
        // The test images must have the training images' shape; a lone half of the pair is a 422.
        var narrow = config
        narrow.dataset.testImages = "narrow.idx"
        #expect(throws: RunConfigError.self) { try loader.load(narrow.dataset, runSeed: 0) }
        let lone = try Self.problems(
            #"{"dataset": {"kind": "idx", "images": "a", "labels": "b", "test_images": "c"}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(lone.map(\.field) == ["dataset.test_labels"])
    }

    @Test func thePapersCNNIsExpressibleWith5210Parameters() throws {
        let config = try Self.parse(
            #"{"dataset": {"kind": "mnist1d"}, "model": {"layers": \#(Self.paperLayers)}, "epochs": 1, "learning_rate": 0.01}"#)
        #expect(config.model.isConvolutional && config.model.hiddenSizes.isEmpty)
        let architecture = HostArchitecture(model: config.model, inputs: 40, classes: 10)
        #expect(architecture.convolutions?.map(\.outputLength) == [19, 10, 5])
        #expect(architecture.denseInputs == 125)
        #expect(architecture.parameterCount == 5210)
        // Stored configs round-trip through the registry's JSON.
        let decoded = try JanssonDecoder().decode(RunConfig.self, from: JanssonEncoder().encode(config))
        #expect(decoded == config)
        // 'same' keeps ceil(L / stride) positions.
        let same = try Self.parse(
            #"{"dataset": {"kind": "mnist1d"}, "model": {"layers": [{"kind": "conv1d", "channels": 4, "kernel_size": 5, "stride": 2, "padding": "same"}, {"kind": "flatten"}, {"kind": "dense", "units": 16}]}, "epochs": 1, "learning_rate": 0.01}"#
        )
        let sameArchitecture = HostArchitecture(model: same.model, inputs: 40, classes: 10)
        #expect(sameArchitecture.convolutions?.first?.outputLength == 20 && sameArchitecture.hiddenSizes == [16])
        #expect(sameArchitecture.parameterCount == (4 * 5 + 4) + (80 * 16 + 16) + (16 * 10 + 10))
    }

    @Test func badLayerConfigsNameEveryBadField() throws {
        let fields = try Self.problems(
            """
            {"dataset": {"kind": "mnist1d"}, "model": {"hidden_sizes": [8], "layers": [
              {"kind": "conv1d", "channels": 0, "kernel_size": 5, "stride": 2},
              {"kind": "pool"},
              {"kind": "conv1d", "channels": 4, "kernel_size": 3, "padding": "full", "dilation": 2},
              {"kind": "dense", "units": 8}
            ]}, "epochs": 1, "learning_rate": 0.01, "policy": "heuristic"}
            """
        ).map(\.field)
        #expect(
            Set(fields) == [
                "model.layers", "model.layers[0].channels", "model.layers[1].kind", "model.layers[2].padding",
                "model.layers[2].dilation", "model.layers[3].kind",
            ])
        // A conv host takes a policy: its conv layers have seed slots (`conv-slot-<i>`, depth seeds).
        // Strides that leave nothing: 40 → 9 → 1, then a kernel of 3 has nothing to read.
        let shrinking = try Self.problems(
            """
            {"dataset": {"kind": "mnist1d"}, "model": {"layers": [
              {"kind": "conv1d", "channels": 2, "kernel_size": 5, "stride": 4},
              {"kind": "conv1d", "channels": 2, "kernel_size": 5, "stride": 8},
              {"kind": "conv1d", "channels": 2, "kernel_size": 3}
            ]}, "epochs": 1, "learning_rate": 0.01}
            """)
        #expect(shrinking.map(\.field) == ["model.layers[2].kernel_size"])
        #expect(shrinking.first?.message.contains("nothing is left") == true)
        let seeds = try Self.problems(
            #"{"dataset": {"kind": "mnist1d"}, "model": {"layers": \#(Self.paperLayers)}, "epochs": 1, "learning_rate": 0.01, "seeds": {}}"#
        ).map(\.field)
        #expect(seeds.contains("seeds"))
        // A file's length is known only once loaded: the same check runs then.
        let deferred = try Self.parse(
            #"{"dataset": {"kind": "csv", "path": "x.csv"}, "model": {"layers": [{"kind": "conv1d", "channels": 2, "kernel_size": 9}]}, "epochs": 1, "learning_rate": 0.01}"#
        )
        #expect(deferred.model.shapeProblems(inputs: 8, batchSize: 32).map(\.field) == ["model.layers[0].kernel_size"])
        #expect(deferred.model.shapeProblems(inputs: 9, batchSize: 32).isEmpty)
        // Few parameters, enormous work: 1,024 channels of kernel 256 over 4,096 positions.
        let huge = try Self.problems(
            """
            {"dataset": {"kind": "gaussian_blobs", "features": 4096, "samples": 100}, "model": {"layers": [
              {"kind": "conv1d", "channels": 64, "kernel_size": 256, "padding": "same"},
              {"kind": "conv1d", "channels": 1024, "kernel_size": 256, "padding": "same"}
            ]}, "epochs": 1, "learning_rate": 0.01}
            """)
        #expect(huge.map(\.field) == ["model.layers", "model.layers"])
        #expect(huge.first?.message.contains("multiply-adds") == true && huge.last?.message.contains("buffers") == true)
    }

    /// Central differences of the mean loss through the whole conv host (input stage, flatten,
    /// dense layers) against its backward: the host wires the kernels' gradients together.
    @Test func convHostGradientsMatchFiniteDifferences() throws {
        var model = ModelSpec()
        model.layers = [
            .conv1d(Conv1DSpec(channels: 3, kernelSize: 3, stride: 2, padding: .explicit(1), activation: .tanh)),
            .conv1d(Conv1DSpec(channels: 2, kernelSize: 2, stride: 1, padding: .valid, activation: .tanh)),
            .flatten, .dense(units: 4),
        ]
        model.activation = .tanh
        let architecture = HostArchitecture(model: model, inputs: 12, classes: 3)
        let host = HostMLP(architecture: architecture, maxBatch: 5, learningRate: 0.1, seed: 7)
        var rng = RandomGenerator(seed: 1, stream: .split)
        let x = (0..<(5 * 12)).map { _ in rng.normal() }
        let labels: [Int32] = [0, 1, 2, 1, 0]
        func loss() throws -> Double {
            _ = try x.withUnsafeBufferPointer { try host.forward($0.baseAddress!, batch: 5, training: true) }
            return Double(try labels.withUnsafeBufferPointer { try host.loss(labels: $0.baseAddress!, batch: 5).loss })
        }
        host.zeroGradients()
        _ = try loss()
        try labels.withUnsafeBufferPointer { try host.backward(labels: $0.baseAddress!, batch: 5) }
        let analytic = Array(UnsafeBufferPointer(start: host.block.gradients, count: host.block.count))
        #expect(host.hostGroups.map(\.name) == ["host.conv-0", "host.conv-1", "host.layer-0", "host.output"])
        var worst = 0.0
        for i in 0..<host.block.count {
            let saved = host.block.values[i]
            let h: Float = 1e-2
            host.block.values[i] = saved + h
            let up = try loss()
            host.block.values[i] = saved - h
            let down = try loss()
            host.block.values[i] = saved
            let numeric = (up - down) / Double(2 * h)
            worst = max(worst, abs(numeric - Double(analytic[i])) / (1e-3 + abs(numeric)))
        }
        #expect(worst < 0.05, "worst relative gradient error \(worst)")
    }

    static var paperCNN: RunConfig {
        get throws {
            var config = try parse(
                #"{"dataset": {"kind": "mnist1d"}, "model": {"layers": \#(paperLayers)}, "epochs": 6, "batch_size": 100, "learning_rate": 0.01, "seed": 3, "checkpoint_interval": 2}"#
            )
            config.keepCheckpoints = 5
            return config
        }
    }

    @Test func thePapersCNNLearnsMNIST1DAndReportsTestAccuracyAndFLOPs() throws {
        let config = try Self.paperCNN
        let sink = InMemoryTrainingSink()
        let trainer = Trainer(runId: "cnn", config: config, split: try Self.split(config), checkpoints: nil, sink: sink)
        #expect(try trainer.run() == .completed)
        let last = try #require(sink.summaries.last)
        #expect(last.heldOutSplit == .test && last.validationSamples == 1000 && last.trainSamples == 4000)
        // Six epochs are far from the paper's 94 %, but far above what an MLP gets this early.
        #expect(last.validationAccuracy > 0.6, "test accuracy \(last.validationAccuracy)")
        // FLOPs: host forward + backward per example, Adam per parameter per step (40 steps).
        let cost = TrainingCost(architecture: trainer.model.architecture)
        let perEpoch = 4000 * cost.hostPerExample + 40 * 12 * 5210
        #expect(sink.summaries.allSatisfy { $0.trainingFlops == perEpoch })
        #expect(last.totalTrainingFlops == 6 * perEpoch)
        #expect(last.telemetryMetrics.contains { $0.name == "tolaria.test.accuracy" && $0.value == last.validationAccuracy })
        #expect(last.telemetryMetrics.contains { $0.name == "tolaria.run.training_flops" })
    }

    @Test func trainingCostCountsEveryLayerByHand() {
        // 3 → 4 → 2 MLP: forward 2·(12 + 8) + (4 + 2) = 46; backward 24 (layer 0: dW only) + 32 + 6 = 62.
        let mlp = TrainingCost(architecture: HostArchitecture(inputs: 3, hiddenSizes: [4], classes: 2))
        #expect(mlp.hostPerExample == 46 + 62)
        #expect(mlp.shadowPerExample == [2 * 16])
        // conv 1→2 k3 over 5 (valid: 3 positions), flatten 6 → 2 classes.
        let conv = HostArchitecture(
            inputs: 5, hiddenSizes: [], classes: 2,
            convolutions: [
                Conv1DLayerShape(
                    inputChannels: 1, inputLength: 5, channels: 2, kernelSize: 3, stride: 1, padLeft: 0, padRight: 0, activation: .relu)
            ])
        // conv: 18 MACs → fwd 36 + 6, bwd 36 + 6; dense 12 MACs → fwd 24 + 2, bwd 48 + 2.
        #expect(TrainingCost(architecture: conv).hostPerExample == 42 + 42 + 26 + 50)
    }

    @Test func aConvRunResumedFromItsCheckpointMatchesAnUninterruptedRun() throws {
        // The conv GEMMs are large enough for OpenBLAS to split them by thread count, which
        // decides the last bits: pin it to the one thread every server and worker uses.
        Kernels.blasThreads = 1
        let config = try Self.paperCNN
        let reference = InMemoryTrainingSink()
        _ = try Trainer(runId: "cnn", config: config, split: try Self.split(config), checkpoints: nil, sink: reference).run()
        let repeated = InMemoryTrainingSink()
        _ = try Trainer(runId: "cnn", config: config, split: try Self.split(config), checkpoints: nil, sink: repeated).run()
        #expect(repeated.summaries.map(\.trainLoss) == reference.summaries.map(\.trainLoss), "deterministic")

        let directory = TemporaryDirectory()
        let store = CheckpointStore(directory: directory.path, keep: config.keepCheckpoints)
        // 40 batches per epoch: suspend inside epoch 3, after the checkpoint of epoch 2.
        let first = Trainer(
            runId: "cnn", config: config, split: try Self.split(config), checkpoints: store, sink: InMemoryTrainingSink(),
            control: TrainingTests.SuspendAfter(batches: 3 * 40 + 7))
        #expect(try first.run() == .suspended)
        let sink = InMemoryTrainingSink()
        let second = Trainer(runId: "cnn", config: config, split: try Self.split(config), checkpoints: store, sink: sink)
        #expect(try second.resumeFromCheckpoint() == 2)
        #expect(try second.run() == .completed)
        let tail = reference.summaries.suffix(4)
        #expect(sink.summaries.map(\.trainLoss) == tail.map(\.trainLoss))
        #expect(sink.summaries.map(\.validationAccuracy) == tail.map(\.validationAccuracy))
        #expect(sink.summaries.map(\.totalTrainingFlops) == tail.map(\.totalTrainingFlops))
    }

    @Test func aNaNInAConvHostRollsBackAndRecovers() throws {
        var config = try Self.paperCNN
        config.epochs = 4
        config.faultInjection = FaultInjection(nanAtEpoch: 2, nanAtBatch: 5)
        let directory = TemporaryDirectory()
        let sink = InMemoryTrainingSink()
        let trainer = Trainer(
            runId: "cnn", config: config, split: try Self.split(config),
            checkpoints: CheckpointStore(directory: directory.path, keep: 3), sink: sink)
        #expect(try trainer.run() == .completed)
        #expect(sink.events.contains { $0.kind == .rollback })
        #expect(sink.summaries.last?.validationLoss.isFinite == true)
    }
}
