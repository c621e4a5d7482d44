// control-bench: the control loop's figures for docs/performance.md — the end-of-epoch
// handshake (state + Tamiyo's decision + Kasmina applying it, inside Tolaria's timed boundary)
// and growth on digits from a 4-unit host. Build with `swift build -c release`.
//
// usage: control-bench handshake [EPOCHS] [heuristic|learned] → boundary and handshake p50/p99/max (ms)
//        control-bench growth SEED [EPOCHS]       → one width-growth run on digits (heuristic policy, widening seeds)
//        control-bench fixed WIDTH SEED [EPOCHS]  → a fixed-width digits net, same protocol
//        control-bench simic-compare [EPOCHS]     → heuristic runs → field reports → Simic PPO →
//                                                   trained vs heuristic width growth over the eval seeds
import EsperStorage
import Foundation
import Karn
import Kasmina
import Kernels
import Leyline
import Logging
import Tamiyo
import Simic
import TamiyoNetwork
import Tezzeret
import Tolaria
import Urza

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// A blueprint library compiled for slots of `width` in a temporary directory, and Tamiyo over it.
final class Control {
    let root = NSTemporaryDirectory() + "control-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let catalog: KarnCatalog
    let urza: UrzaLibrary
    let service: TamiyoService
    var compiled: [String] = []
    /// The host's shape at the end of the last `train` (widening changes it).
    var lastHost: HostArchitecture?

    init(width: Int, blueprints: [String], kernelBudgetMs: Double = 10) throws {
        catalog = try KarnCatalog()
        var options = CompileOptions()
        options.strategy = .fast
        options.seedWidth = width
        let compiler = try TezzeretCompiler(catalog: catalog, directory: root + "/tezzeret", options: options)
        urza = try UrzaLibrary(configuration: UrzaConfiguration(root: root + "/urza"), catalog: catalog)
        for id in blueprints {
            guard let template = catalog.template(id) else { continue }
            // Templates whose shape rules do not fit this width are skipped (e.g. 8 heads of a 4-wide slot).
            guard let result = try? compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge)) else {
                continue
            }
            try urza.save(descriptor: template.descriptor, artifactPath: result.artifactPath)
            compiled.append(id)
        }
        var logger = Logger(label: "control-bench")
        logger.logLevel = .critical
        var settings = TamiyoSettings(directory: root + "/tamiyo")
        settings.kernelBudgetMs = kernelBudgetMs
        service = try TamiyoService(settings: settings, karn: catalog, urza: urza,
                                    kernels: UrzaKernelProvider(urza: urza), bus: nil, logger: logger)
    }

    deinit {
        service.stop()
        try? FileManager.default.removeItem(atPath: root)
    }

    func train(_ config: RunConfig, runId: String = "bench") throws -> (summaries: [EpochSummary], controller: TamiyoController) {
        let policy: any TamiyoPolicy = config.policy == .learned ? LearnedPolicy(weights: service.currentWeights) : HeuristicPolicy()
        let controller = service.makeController(runId: runId, config: config, policy: policy)
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        let split = DataSplit(data, validationFraction: config.dataset.validationFraction, seed: config.seed,
                              scaling: config.dataset.effectiveScaling)
        let sink = InMemoryTrainingSink()
        let trainer = Trainer(runId: runId, config: config, split: split, checkpoints: nil, sink: sink, controller: controller)
        _ = try trainer.run()
        lastHost = trainer.model.architecture
        return (sink.summaries, controller)
    }
}

/// The digits protocol of shared/data/README.md: pixels scaled to 0..1, shuffled 80/20,
/// Adam 1e-2, batch 32 — DIGITS_* variables change the recipe (docs/performance.md).
func digits(hidden: [Int], seed: UInt64, epochs: Int) -> RunConfig {
    let env = ProcessInfo.processInfo.environment
    var dataset = DatasetSpec(kind: .digits)
    if let scaling = env["DIGITS_SCALING"] { dataset.scaling = FeatureScaling(rawValue: scaling) }
    var config = RunConfig(dataset: dataset, epochs: epochs, learningRate: Float(env["DIGITS_LR"] ?? "") ?? 0.01)
    config.model.hiddenSizes = hidden
    config.batchSize = 32
    config.seed = seed
    if let kind = env["DIGITS_OPTIMIZER"].flatMap(OptimizerSettings.Kind.init(rawValue:)) { config.optimizer = kind }
    if let decay = env["DIGITS_WEIGHT_DECAY"].flatMap(Float.init) { config.weightDecay = decay }
    if let smoothing = env["DIGITS_LABEL_SMOOTHING"].flatMap(Float.init) { config.labelSmoothing = smoothing }
    if let noise = env["DIGITS_INPUT_NOISE"].flatMap(Float.init) { config.inputNoise = noise }
    if let batch = env["DIGITS_BATCH"].flatMap(Int.init) { config.batchSize = batch }
    if let decay = env["DIGITS_DECAY_EPOCHS"].flatMap(Int.init) { config.learningRateDecayEpochs = decay }
    return config
}

/// The slot-seed growth task (digits, 4-unit host, the default SAFE pool of slot kernels):
/// the earlier task of `simic-compare` (`SIMIC_TASK=slot-seeds`). `growth` and `simic-compare`
/// measure width growth (`widthGrowthConfig`) by default.
func growthConfig(seed: UInt64, epochs: Int, policy: ControlPolicy) -> RunConfig {
    var config = digits(hidden: [4], seed: seed, epochs: epochs)
    config.policy = policy
    var seeds = SeedSettings()
    let env = ProcessInfo.processInfo.environment
    if let list = env["GROWTH_BLUEPRINTS"] { seeds.blueprints = list.split(separator: ",").map(String.init) }
    seeds.maxGerminations = Int(env["GROWTH_MAX_GERMINATIONS"] ?? "") ?? 12
    seeds.plateauEpochs = Int(env["GROWTH_PLATEAU"] ?? "") ?? 3
    seeds.embargoEpochs = Int(env["GROWTH_EMBARGO"] ?? "") ?? 2
    seeds.warmupEpochs = Int(env["GROWTH_WARMUP"] ?? "") ?? 10
    seeds.graftSteps = Int(env["GROWTH_GRAFT_STEPS"] ?? "") ?? 45
    config.seeds = seeds
    return config
}

let growthCandidates = (1...35).map { String(format: "BP%03d", $0) }

/// Width growth: the 4-unit host widens through widening seeds (Net2Net-style, function-
/// preserving) under the given policy (the heuristic by default), within a parameter budget below the 32-unit fixed
/// net's 2 410. GROWTH_* variables change the gates, DIGITS_* the recipe.
func widthGrowthConfig(seed: UInt64, epochs: Int, policy: ControlPolicy = .heuristic) -> RunConfig {
    var config = digits(hidden: [4], seed: seed, epochs: epochs)
    config.policy = policy
    let env = ProcessInfo.processInfo.environment
    var seeds = SeedSettings()
    seeds.blueprints = (env["GROWTH_BLUEPRINTS"] ?? "widen-8,widen-4").split(separator: ",").map(String.init)
    seeds.maxGerminations = Int(env["GROWTH_MAX_GERMINATIONS"] ?? "") ?? 12
    seeds.plateauEpochs = Int(env["GROWTH_PLATEAU"] ?? "") ?? 3
    seeds.embargoEpochs = Int(env["GROWTH_EMBARGO"] ?? "") ?? 2
    seeds.warmupEpochs = Int(env["GROWTH_WARMUP"] ?? "") ?? 10
    seeds.graftSteps = Int(env["GROWTH_GRAFT_STEPS"] ?? "") ?? 45
    seeds.minTrainingEpochs = Int(env["GROWTH_MIN_TRAINING"] ?? "") ?? 3
    seeds.parameterBudget = Int(env["GROWTH_BUDGET"] ?? "") ?? 2409
    seeds.improvementThreshold = Double(env["GROWTH_IMPROVEMENT"] ?? "") ?? seeds.improvementThreshold
    seeds.stabilizationEpochs = Int(env["GROWTH_STABILIZATION"] ?? "") ?? seeds.stabilizationEpochs
    seeds.evaluationEpochs = Int(env["GROWTH_EVALUATION"] ?? "") ?? seeds.evaluationEpochs
    seeds.plateauDelta = Double(env["GROWTH_PLATEAU_DELTA"] ?? "") ?? seeds.plateauDelta
    config.seeds = seeds
    return config
}

Kernels.blasThreads = 1
let arguments = CommandLine.arguments
switch arguments.count > 1 ? arguments[1] : "" {
case "handshake":
    // The acceptance experiment's run with a seed lifecycle every few epochs: germinate on a
    // 1-epoch "plateau", walk the gates, cull or fossilise, again and again.
    let epochs = arguments.count > 2 ? Int(arguments[2]) ?? 2000 : 2000
    let control = try Control(width: 16, blueprints: ["BP001", "BP008", "BP009", "BP010"])
    var config = RunConfig(dataset: DatasetSpec(kind: .twoMoons), epochs: epochs, learningRate: 1e-3)
    config.model.hiddenSizes = [16, 16]
    config.batchSize = 128
    config.seed = 42
    config.policy = arguments.count > 3 && arguments[3] == "learned" ? .learned : .heuristic
    var seeds = SeedSettings()
    seeds.plateauEpochs = 1
    seeds.plateauDelta = 10
    seeds.warmupEpochs = 0
    seeds.maxGerminations = 100_000
    seeds.embargoEpochs = 0
    seeds.minTrainingEpochs = 1
    seeds.stabilizationEpochs = 1
    seeds.evaluationEpochs = 1
    seeds.graftSteps = 7
    config.seeds = seeds
    let (summaries, controller) = try control.train(config)
    let boundary = summaries.dropFirst(10).map(\.boundaryMs)
    let handshake = Array(controller.handshakeMs.dropFirst(10))
    let inference = Array(controller.inferenceMs.dropFirst(10))
    print(String(format: "handshake policy=%@ epochs=%d commands=%d germinations=%d boundary_p50_ms=%.4f boundary_p99_ms=%.4f boundary_max_ms=%.4f "
                 + "tamiyo_kasmina_p50_ms=%.4f tamiyo_kasmina_p99_ms=%.4f policy_p50_ms=%.4f policy_p99_ms=%.4f",
                 controller.policyName, summaries.count, controller.commands.count, controller.kasmina.germinations,
                 percentile(boundary, 0.5), percentile(boundary, 0.99), boundary.max() ?? 0,
                 percentile(handshake, 0.5), percentile(handshake, 0.99), percentile(inference, 0.5), percentile(inference, 0.99)))
case "growth":
    let seed = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1
    let epochs = arguments.count > 3 ? Int(arguments[3]) ?? 150 : 150
    let config = widthGrowthConfig(seed: seed, epochs: epochs)
    let control = try Control(width: 4, blueprints: config.seeds!.blueprints!.filter { WideningBlueprint.units($0) == nil })
    let (summaries, controller) = try control.train(config)
    let host = control.lastHost!
    let last = summaries.last!
    let seedParameters = last.slots.reduce(0) { $0 + $1.parameters }
    let best = summaries.map(\.validationAccuracy).max() ?? 0
    for command in controller.commands {
        var operation = command.commandType.name
        if case .seedOperation(let op)? = command.payload { operation = op.operation.name + " " + op.blueprintId }
        FileHandle.standardError.write(Data("epoch \(command.annotations["epoch"] ?? "?") \(command.targetSeedId) \(operation) \(command.annotations["rationale"] ?? "")\n".utf8))
    }
    // Fossilised widenings are host units now: the host's count is the grown network's. A seed
    // still live at the end is reported apart (in TRAINING it adds nothing to the output).
    let fossilised = controller.commands.filter { command in
        guard case .seedOperation(let op)? = command.payload else { return false }
        return op.operation == .fossilize && command.annotations["executed"] == "true"
    }.count
    let live = controller.kasmina.slotModules.compactMap(\.active).map { "\($0.origin.requestedId):\($0.stage.name)" }
    print(String(format: "growth seed=%llu epochs=%d final_val_acc=%.4f best_val_acc=%.4f params=%d hidden=%@ germinations=%d fossilised=%d live_seed_params=%d live=%@",
                 seed, summaries.count, last.validationAccuracy, best, host.parameterCount,
                 host.hiddenSizes.map(String.init).joined(separator: ","), controller.kasmina.germinations,
                 fossilised, seedParameters, live.joined(separator: ",")))
case "fixed":
    // WIDTH may list several hidden layers: 64,4 is a 64→64→4→10 net.
    let widths = (arguments.count > 2 ? arguments[2] : "4").split(separator: ",").compactMap { Int($0) }
    let seed = arguments.count > 3 ? UInt64(arguments[3]) ?? 1 : 1
    let epochs = arguments.count > 4 ? Int(arguments[4]) ?? 60 : 60
    let config = digits(hidden: widths, seed: seed, epochs: epochs)
    let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
    let split = DataSplit(data, validationFraction: 0.2, seed: seed, scaling: config.dataset.effectiveScaling)
    let sink = InMemoryTrainingSink()
    _ = try Trainer(runId: "fixed", config: config, split: split, checkpoints: nil, sink: sink).run()
    let last = sink.summaries.last!
    let layers = [64] + widths + [10]
    var parameters = 0
    for index in 0..<(layers.count - 1) { parameters += layers[index] * layers[index + 1] + layers[index + 1] }
    print(String(format: "fixed hidden=%@ seed=%llu epochs=%d final_val_acc=%.4f params=%d", widths.map(String.init).joined(separator: ","),
                 seed, epochs, last.validationAccuracy, parameters))
case "simic-compare":
    let epochs = arguments.count > 2 ? Int(arguments[2]) ?? 200 : 200
    try simicCompare(epochs: epochs)
default:
    FileHandle.standardError.write(
        Data("usage: control-bench handshake [EPOCHS] | growth SEED [EPOCHS] | fixed WIDTH SEED [EPOCHS] | simic-compare [EPOCHS]\n".utf8))
    exit(2)
}
