import EsperTestSupport
import Foundation
import Karn
import Kasmina
import Leyline
import Logging
import Tamiyo
import Tolaria

/// A Tamiyo service over a real blueprint library (slot width 16 unless told otherwise) in a
/// temporary data directory, and runs of real Trainers under its controllers.
final class ControlFixture {
    let library: BlueprintLibraryFixture
    let directory = TemporaryDirectory("tamiyo-test")
    let service: TamiyoService

    init(
        width: Int = 16, blueprints: [String] = ["BP001", "BP008", "BP009", "BP002", "BP036", "BP045"],
        configure: (inout TamiyoSettings) -> Void = { _ in }
    ) throws {
        library = try BlueprintLibraryFixture(width: width, blueprints: blueprints)
        var settings = TamiyoSettings(directory: directory.path + "/tamiyo")
        configure(&settings)
        var logger = Logger(label: "tamiyo-test")
        logger.logLevel = .critical
        service = try TamiyoService(
            settings: settings, karn: library.catalog, urza: library.urza,
            kernels: UrzaKernelProvider(urza: library.urza), bus: nil, logger: logger)
    }

    deinit { service.stop() }

    /// The acceptance experiment's run (README-morphogenesis §7): two moons, host
    /// 2→16→slot(16)→16→2, ReLU, Adam 1e-3, batch 128, fixed seeds.
    static func moons(
        epochs: Int, seed: UInt64 = 42, policy: ControlPolicy = .heuristic,
        configure: (inout SeedSettings) -> Void = { _ in }
    ) -> RunConfig {
        var config = RunConfig(dataset: DatasetSpec(kind: .twoMoons), epochs: epochs, learningRate: 1e-3)
        config.model.hiddenSizes = [16, 16]
        config.batchSize = 128
        config.seed = seed
        config.policy = policy
        var seeds = SeedSettings()
        seeds.slots = ["slot-0"]
        configure(&seeds)
        config.seeds = seeds
        return config
    }

    /// Growth settings for short runs on digits: grow at every plateau after two epochs, gates
    /// that judge a seed within a few epochs, no embargo, no improvement threshold.
    static func quickGrowth(_ blueprints: [String]) -> SeedSettings {
        var seeds = SeedSettings()
        seeds.blueprints = blueprints
        seeds.warmupEpochs = 2
        seeds.plateauEpochs = 1
        seeds.plateauDelta = 10
        seeds.minTrainingEpochs = 1
        seeds.graftSteps = 10
        seeds.stabilizationEpochs = 0
        seeds.evaluationEpochs = 1
        seeds.improvementThreshold = 0
        seeds.embargoEpochs = 0
        return seeds
    }

    struct Run {
        let trainer: Trainer
        let controller: TamiyoController
        let sink: InMemoryTrainingSink
        let outcome: TrainingOutcome
    }

    func run(
        _ config: RunConfig, id: String = "run-\(UUID().uuidString.lowercased())", policy: (any TamiyoPolicy)? = nil,
        datasets: String = "/nonexistent", prepare: (TamiyoController) -> Void = { _ in }
    ) throws -> Run {
        let controller = service.makeController(
            runId: id, config: config,
            policy: policy
                ?? (config.effectivePolicy == .learned
                    ? LearnedPolicy(weights: service.currentWeights)
                    : HeuristicPolicy()))
        prepare(controller)
        let data = try DatasetLoader(directory: datasets).load(config.dataset, runSeed: config.seed)
        let split = DataSplit(data, spec: config.dataset, seed: config.seed)
        let sink = InMemoryTrainingSink()
        let trainer = Trainer(runId: id, config: config, split: split, checkpoints: nil, sink: sink, controller: controller)
        let outcome = try trainer.run()
        return Run(trainer: trainer, controller: controller, sink: sink, outcome: outcome)
    }
}

extension AdaptationCommandSummary {
    init(_ command: AdaptationCommand) {
        var operation = ""
        if case .seedOperation(let op)? = command.payload { operation = op.operation.name + ":" + op.blueprintId }
        self.init(
            text:
                "\(command.annotations["epoch"] ?? "?") \(command.commandType.name) \(command.targetSeedId) \(operation) \(command.annotations["risk_reason"] ?? "")"
        )
    }
}

/// A command as a line (what determinism compares: everything but ids and times).
struct AdaptationCommandSummary: Equatable, CustomStringConvertible {
    let text: String
    var description: String { text }
}
