public import EsperJSON
import Kernels
import Leyline

/// A run config that cannot be used; `problems` lists every bad field, not just the first.
public struct RunConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var problems: [JSONFieldProblem]
    public init(problems: [JSONFieldProblem]) { self.problems = problems }
    public var description: String { problems.map { "\($0.field): \($0.message)" }.joined(separator: "; ") }
}

extension RunConfig {
    /// Limits that keep one run from exhausting the server.
    public enum Limits {
        public static let maxEpochs = 100_000
        public static let maxBatchSize = 65_536
        public static let maxHiddenLayers = 8
        public static let maxHiddenWidth = 8192
        public static let maxSamples = 1_000_000
        public static let maxParameters = 64 << 20
        /// samples × features of a generated data set. It is generated inside the POST that
        /// submits the run, so without a bound one request (1 000 000 × 4 096) asks for 16 GiB.
        public static let maxDatasetValues = 16 << 20
        /// Forward multiply-adds per example of a host's conv layers (an MLP at the parameter
        /// limit does as many).
        public static let maxMultiplyAddsPerExample = 64 << 20
        /// Floats of a conv host's activation and im2col buffers (× 4 bytes: 1 GiB).
        public static let maxActivationFloats = 256 << 20
    }

    /// Reads a run config from JSON, checking types, ranges, enums, unknown keys and the
    /// fields each data-set kind needs, and reporting all problems at once.
    public static func parse(_ json: JSONValue) throws(RunConfigError) -> RunConfig {
        let problems = ProblemList()
        guard case .object = json else {
            throw RunConfigError(problems: [JSONFieldProblem(field: "", message: "expected a JSON object")])
        }
        let root = FieldReader(json, path: "", problems: problems)

        let datasetReader = root.object("dataset", required: true)
        let kind = datasetReader?.enumeration("kind", DatasetSpec.Kind.self, required: true)
        var dataset = DatasetSpec(kind: kind ?? .twoMoons)
        if let reader = datasetReader {
            let synthetic = kind?.syntheticTask != nil
            func only(_ key: String, _ allowed: Bool) -> Bool {
                guard reader.has(key) else { return false }
                if !allowed, let kind { reader.problem(key, "not used by data set kind '\(kind.rawValue)'") }
                return allowed
            }
            if only("samples", synthetic) { dataset.samples = reader.int("samples", 10...Limits.maxSamples) }
            if only("noise", synthetic) { dataset.noise = reader.double("noise", 0...10) }
            if only("classes", kind == .gaussianBlobs) { dataset.classes = reader.int("classes", 2...100) }
            if only("features", kind == .gaussianBlobs) { dataset.features = reader.int("features", 1...4096) }
            if kind == .gaussianBlobs, let features = dataset.features, (dataset.samples ?? 1000) * features > Limits.maxDatasetValues {
                reader.problem("features", "samples × features must be at most \(Limits.maxDatasetValues)")
            }
            if only("cells", kind == .checkerboard) { dataset.cells = reader.int("cells", 2...64) }
            if only("seed", synthetic) { dataset.seed = reader.unsigned("seed") }
            if only("path", kind == .csv) { dataset.path = reader.relativePath("path") }
            if only("label_column", kind == .csv) {
                switch reader.value("label_column") {
                case .int(let index)?: dataset.labelColumn = .index(Int(index))
                case .string(let name)? where !name.isEmpty: dataset.labelColumn = .name(name)
                default: reader.problem("label_column", "expected a column index (negative counts from the end) or a header name")
                }
            }
            if only("has_header", kind == .csv) { dataset.hasHeader = reader.bool("has_header") }
            if only("delimiter", kind == .csv) {
                if let text = reader.string("delimiter", maxLength: 1) {
                    if text.utf8.count == 1, let byte = text.utf8.first, byte != 10, byte != 13, byte != 34 {
                        dataset.delimiter = text
                    } else {
                        reader.problem("delimiter", "must be one ASCII character other than a quote or newline")
                    }
                }
            }
            if only("images", kind == .idx) { dataset.images = reader.relativePath("images") }
            if only("labels", kind == .idx) { dataset.labels = reader.relativePath("labels") }
            if reader.has("scaling") { dataset.scaling = reader.enumeration("scaling", FeatureScaling.self) }
            let files = kind == .csv || kind == .idx || kind == .digits
            if only("test_rows", files) { dataset.testRows = reader.int("test_rows", 1...Limits.maxSamples) }
            if only("test_path", kind == .csv) { dataset.testPath = reader.relativePath("test_path") }
            if only("test_images", kind == .idx) { dataset.testImages = reader.relativePath("test_images") }
            if only("test_labels", kind == .idx) { dataset.testLabels = reader.relativePath("test_labels") }
            if kind == .idx, reader.has("test_images") != reader.has("test_labels") {
                reader.problem(reader.has("test_images") ? "test_labels" : "test_images", "test_images and test_labels go together")
            }
            if reader.has("test_rows") && (reader.has("test_path") || reader.has("test_images")) {
                reader.problem("test_rows", "name the test split once: the last rows of the file or a second file, not both")
            }
            if reader.has("validation_fraction") {
                if kind == .mnist1d || reader.has("test_rows") || reader.has("test_path") || reader.has("test_images") {
                    reader.problem(
                        "validation_fraction", "this data set has a fixed test split; a random validation fraction does not apply")
                }
                dataset.validationFraction = reader.double("validation_fraction", 0.01...0.9) ?? dataset.validationFraction
            }
            if kind == .csv && !reader.has("path") { reader.problem("path", "required for data set kind 'csv'") }
            if kind == .idx {
                if !reader.has("images") { reader.problem("images", "required for data set kind 'idx'") }
                if !reader.has("labels") { reader.problem("labels", "required for data set kind 'idx'") }
            }
            if case .name? = dataset.labelColumn, dataset.hasHeader != true {
                reader.problem("label_column", "a column name needs has_header: true")
            }
            reader.rejectUnknown()
        }

        var model = ModelSpec()
        // Conv layers declared, even by an otherwise invalid `layers` (each has a conv slot after it).
        var declaresConvolutions = false
        var convolutionCount = 0
        // The layers resolved over the data's feature count when the config alone gives it.
        var knownShapes: (convolutions: [Conv1DLayerShape], hiddenSizes: [Int], problems: [(index: Int, message: String)])?
        if let reader = root.object("model", required: false) {
            if reader.has("hidden_sizes") {
                if let sizes = reader.intArray("hidden_sizes", count: 0...Limits.maxHiddenLayers, each: 1...Limits.maxHiddenWidth) {
                    model.hiddenSizes = sizes
                }
            }
            if reader.has("activation") { model.activation = reader.enumeration("activation", Activation.self) ?? model.activation }
            if reader.has("initialisation") {
                model.initialisation = reader.enumeration("initialisation", WeightInitialisation.self) ?? model.initialisation
            }
            if reader.has("layers") {
                if case .array(let items)? = reader.value("layers") {
                    convolutionCount = items.count { $0.objectValue?["kind"] == .string("conv1d") }
                    declaresConvolutions = convolutionCount > 0
                }
                if reader.has("hidden_sizes") {
                    reader.problem("layers", "declare the host either by hidden_sizes or by layers, not both")
                }
                let (parsed, valid) = parseLayers(reader)
                if valid {
                    model.layers = parsed.map(\.layer)
                    model.hiddenSizes = parsed.compactMap { if case .dense(let units) = $0.layer { units } else { nil } }
                }
                if let inputs = dataset.knownFeatureCount, !(datasetReader?.has("features") == true && dataset.features == nil) {
                    knownShapes = ModelSpec.resolve(parsed, inputs: inputs)
                }
            }
            if reader.has("branches") {
                model.branches = parseBranches(reader, hiddenLayers: model.hiddenSizes.count, convolutions: declaresConvolutions)
                if let inputs = dataset.knownFeatureCount, model.branches != nil {
                    problems.items += model.branchProblems(inputs: inputs)
                }
            }
            reader.rejectUnknown()
        }

        let epochs = root.int("epochs", 1...Limits.maxEpochs, required: true)
        let learningRate = root.float("learning_rate", exclusiveLowerBound: 0, upTo: 10, required: true)
        var config = RunConfig(dataset: dataset, epochs: epochs ?? 1, learningRate: learningRate ?? 1e-3)
        config.model = model
        if root.has("name") { config.name = root.string("name", maxLength: 200) }
        if root.has("experiment_name") { config.experimentName = root.string("experiment_name", maxLength: 200) ?? config.experimentName }
        if root.has("batch_size") { config.batchSize = root.int("batch_size", 1...Limits.maxBatchSize) ?? config.batchSize }
        if root.has("optimizer") { config.optimizer = root.enumeration("optimizer", OptimizerSettings.Kind.self) ?? config.optimizer }
        if root.has("momentum") {
            config.momentum = root.float("momentum", from: 0, below: 1) ?? config.momentum
            if config.optimizer != .sgd { root.problem("momentum", "only used by optimizer 'sgd'") }
        }
        if root.has("weight_decay") { config.weightDecay = root.float("weight_decay", from: 0, below: 1) }
        for (key, path) in [("beta1", \RunConfig.beta1), ("beta2", \RunConfig.beta2)] where root.has(key) {
            config[keyPath: path] = root.float(key, from: 0, below: 1) ?? config[keyPath: path]
            if config.optimizer == .sgd { root.problem(key, "only used by optimizers 'adam' and 'adamw'") }
        }
        if root.has("epsilon") { config.epsilon = root.float("epsilon", exclusiveLowerBound: 0, upTo: 1) ?? config.epsilon }
        if root.has("seed") { config.seed = root.unsigned("seed") ?? config.seed }
        if root.has("checkpoint_interval") {
            config.checkpointInterval = root.int("checkpoint_interval", 1...Limits.maxEpochs) ?? config.checkpointInterval
        }
        if root.has("keep_checkpoints") { config.keepCheckpoints = root.int("keep_checkpoints", 1...100) ?? config.keepCheckpoints }
        if root.has("gradient_accumulation_steps") {
            config.gradientAccumulationSteps = root.int("gradient_accumulation_steps", 1...1024) ?? config.gradientAccumulationSteps
        }
        if root.has("gradient_clip_norm") {
            config.gradientClipNorm = root.float("gradient_clip_norm", exclusiveLowerBound: 0, upTo: 1e6)
        }
        if root.has("label_smoothing") { config.labelSmoothing = root.float("label_smoothing", from: 0, below: 1) }
        if root.has("input_noise") { config.inputNoise = root.float("input_noise", from: 0, below: 10) }
        if root.has("learning_rate_decay_epochs") {
            config.learningRateDecayEpochs = root.int("learning_rate_decay_epochs", 1...Limits.maxEpochs)
        }
        if root.has("epoch_time_budget_ms") {
            config.epochTimeBudgetMs = root.double("epoch_time_budget_ms", 0.001...86_400_000)
        }
        if let reader = root.object("rollback", required: false) {
            if reader.has("spike_factor") {
                config.rollback.spikeFactor = reader.double("spike_factor", 1.01...1e9) ?? config.rollback.spikeFactor
            }
            if reader.has("max_rollbacks") {
                config.rollback.maxRollbacks = reader.int("max_rollbacks", 0...100) ?? config.rollback.maxRollbacks
            }
            if reader.has("learning_rate_factor") {
                config.rollback.learningRateFactor = reader.double("learning_rate_factor", 0.001...1) ?? config.rollback.learningRateFactor
            }
            reader.rejectUnknown()
        }
        if let reader = root.object("fault_injection", required: false) {
            let epoch = reader.int("nan_at_epoch", 0...(max(epochs ?? 1, 1) - 1), required: true)
            let batch = reader.has("nan_at_batch") ? reader.int("nan_at_batch", 0...Int(Int32.max)) : 0
            if let epoch, let batch { config.faultInjection = FaultInjection(nanAtEpoch: epoch, nanAtBatch: batch) }
            reader.rejectUnknown()
        }
        if root.has("policy") {
            config.policy = root.enumeration("policy", ControlPolicy.self)
            if config.effectivePolicy != .none && model.hiddenSizes.isEmpty && !declaresConvolutions {
                root.problem("policy", "a controller grafts seeds into slots after hidden or conv layers; this host has none")
            }
        }
        if let reader = root.object("seeds", required: false) {
            config.seeds = parseSeeds(reader, hiddenSizes: model.hiddenSizes, convolutions: convolutionCount, epochs: epochs ?? 1)
            if config.policy == nil || config.policy == ControlPolicy.none {
                root.problem("seeds", "seed settings need a policy ('heuristic', 'learned' or 'scheduled')")
            } else if (config.policy == .scheduled) != reader.has("schedule") {
                reader.problem(
                    "schedule",
                    config.policy == .scheduled
                        ? "required with policy 'scheduled': the germinations [{\"epoch\", \"slot\", \"blueprint\"}]"
                        : "only the 'scheduled' policy follows a schedule")
            }
        } else if config.policy == .scheduled {
            root.problem("seeds", "policy 'scheduled' needs seeds.schedule (the germinations it makes)")
        }
        root.rejectUnknown()
        if let knownShapes {
            problems.items += ModelSpec.problems(of: knownShapes, batchSize: config.batchSize)
        }

        if !problems.items.isEmpty { throw RunConfigError(problems: problems.items) }
        return config
    }

    /// The `model.branches` array: conv-branch blueprints on MLP slots, each entry checked
    /// with its index; nil when any entry is bad.
    static func parseBranches(_ reader: FieldReader, hiddenLayers: Int, convolutions: Bool) -> [BranchSpec]? {
        guard case .array(let items)? = reader.value("branches") else {
            reader.problem("branches", "expected an array of branch objects")
            return nil
        }
        guard items.count <= 4 else {
            reader.problem("branches", "at most 4 branches, found \(items.count)")
            return nil
        }
        if convolutions { reader.problem("branches", "conv branches join MLP hosts (hidden_sizes or dense layers) only") }
        var branches: [BranchSpec] = []
        for (index, item) in items.enumerated() {
            let key = "branches[\(index)]"
            guard case .object = item else {
                reader.problem(key, "expected a branch object")
                continue
            }
            let entry = FieldReader(item, path: reader.field(key), problems: reader.problems)
            let blueprint = entry.string("blueprint", maxLength: 64, required: true)
            let slot = entry.string("slot", maxLength: 64, required: true)
            if let blueprint, ConvBranchBlueprint.named(blueprint) == nil {
                let known = ConvBranchBlueprint.all.map(\.alias).joined(separator: ", ")
                entry.problem("blueprint", "no conv-branch blueprint '\(blueprint)' (one of \(known) or their template ids)")
            }
            if let slot, BranchSpec(blueprint: "", slot: slot).layer.map({ $0 >= hiddenLayers }) ?? true {
                entry.problem(
                    "slot", "'\(slot)' is not a slot of this host (slot-0…slot-\(max(0, hiddenLayers - 1)), after a hidden layer)")
            }
            entry.rejectUnknown()
            if let blueprint, let slot { branches.append(BranchSpec(blueprint: blueprint, slot: slot)) }
        }
        return branches.count == items.count && !convolutions ? branches : nil
    }

    /// Largest conv layer a run config may declare.
    public enum LayerLimits {
        public static let maxLayers = 16
        public static let maxChannels = 1024
        public static let maxKernelSize = 256
        public static let maxStride = 256
        public static let maxPadding = 256
    }

    /// The `model.layers` array: conv1d layers, then an optional flatten, then dense hidden
    /// layers; every bad entry is reported with its index. Returns the entries that parsed,
    /// with their indices, and whether all did.
    static func parseLayers(_ reader: FieldReader) -> (layers: [(index: Int, layer: HostLayerSpec)], valid: Bool) {
        guard let value = reader.value("layers") else { return ([], false) }
        guard case .array(let items) = value else {
            reader.problem("layers", "expected an array of layer objects")
            return ([], false)
        }
        guard (1...LayerLimits.maxLayers).contains(items.count) else {
            reader.problem("layers", "needs 1…\(LayerLimits.maxLayers) layers, found \(items.count)")
            return ([], false)
        }
        var layers: [(index: Int, layer: HostLayerSpec)] = []
        var valid = true
        var flattened = false, sawConv = false, dense = 0
        for (index, item) in items.enumerated() {
            let key = "layers[\(index)]"
            guard case .object = item else {
                reader.problem(key, "expected a layer object")
                valid = false
                continue
            }
            let layer = FieldReader(item, path: reader.field(key), problems: reader.problems)
            let kind = layer.string("kind", maxLength: 32, required: true)
            switch kind {
            case "conv1d":
                let channels = layer.int("channels", 1...LayerLimits.maxChannels, required: true)
                let kernel = layer.int("kernel_size", 1...LayerLimits.maxKernelSize, required: true)
                let stride = layer.has("stride") ? layer.int("stride", 1...LayerLimits.maxStride) : 1
                var padding: Conv1DSpec.Padding? = .valid
                switch layer.value("padding") {
                case nil, .null?: break
                case .string("same")?: padding = .same
                case .string("valid")?: padding = .valid
                case .int(let count)? where count >= 0 && count <= Int64(LayerLimits.maxPadding): padding = .explicit(Int(count))
                default:
                    layer.problem("padding", "must be 'same', 'valid' or a number of zeros 0…\(LayerLimits.maxPadding) on each side")
                    padding = nil
                }
                if let kernel, case .explicit(let count)? = padding, count >= kernel {
                    layer.problem("padding", "\(count) zeros on each side reach past a kernel of \(kernel): outputs would see only padding")
                    padding = nil
                }
                let activation = layer.has("activation") ? layer.enumeration("activation", Activation.self) : .relu
                if flattened || dense > 0 {
                    layer.problem("kind", "a conv1d layer must come before flatten and dense layers")
                    valid = false
                }
                sawConv = true
                if let channels, let kernel, let stride, let padding, let activation {
                    layers.append(
                        (
                            index,
                            .conv1d(
                                Conv1DSpec(channels: channels, kernelSize: kernel, stride: stride, padding: padding, activation: activation)
                            )
                        ))
                } else {
                    valid = false
                }
            case "flatten":
                if flattened { layer.problem("kind", "the host is flattened once") }
                if dense > 0 { layer.problem("kind", "flatten must come before the dense layers") }
                if !sawConv { layer.problem("kind", "flatten needs conv1d layers before it (the input is already flat)") }
                flattened = true
                valid = valid && !(dense > 0) && sawConv
                layers.append((index, .flatten))
            case "dense":
                dense += 1
                if sawConv && !flattened { layer.problem("kind", "a flatten must come between the conv1d and the dense layers") }
                if dense > RunConfig.Limits.maxHiddenLayers {
                    layer.problem("kind", "at most \(RunConfig.Limits.maxHiddenLayers) dense hidden layers")
                }
                if let units = layer.int("units", 1...RunConfig.Limits.maxHiddenWidth, required: true),
                    !(sawConv && !flattened), dense <= RunConfig.Limits.maxHiddenLayers
                {
                    layers.append((index, .dense(units: units)))
                } else {
                    valid = false
                }
            case let other?:
                layer.problem("kind", "unknown layer kind '\(other.prefix(32))' (expected conv1d, flatten or dense)")
                valid = false
                continue  // its other fields mean nothing here; the kind is the problem
            case nil:
                valid = false
            }
            layer.rejectUnknown()
        }
        return (layers, valid)
    }

    /// The `seeds` object: slot names must exist in the host (`slot-<l>` after hidden layers,
    /// `conv-slot-<i>` after conv layers), blueprint ids look like ids (whether they exist and
    /// fit the slots is the controller's check, see `RunService.Options`), ranges keep a run's
    /// lifecycle sane.
    static func parseSeeds(_ reader: FieldReader, hiddenSizes: [Int], convolutions: Int = 0, epochs: Int) -> SeedSettings {
        var seeds = SeedSettings()
        let slotNames =
            (0..<hiddenSizes.count).map(SeedSlot.name(forLayer:)) + (0..<convolutions).map(SeedSlot.name(forConvolution:))
        if reader.has("slots") {
            if let names = reader.stringArray("slots", count: 1...max(1, slotNames.count), maxLength: 64) {
                for (index, name) in names.enumerated() where !slotNames.contains(name) {
                    reader.problem(
                        "slots[\(index)]",
                        slotNames.isEmpty
                            ? "the host has no hidden or conv layer, hence no seed slot"
                            : "'\(name)' is not a slot of this host (\(slotNames.joined(separator: ", ")))")
                }
                if Set(names).count != names.count { reader.problem("slots", "lists a slot twice") }
                seeds.slots = names
            }
        } else if slotNames.isEmpty {
            reader.problem("slots", "the host has no hidden or conv layer, hence no seed slot")
        }
        for key in ["blueprints", "approved_blueprints"] where reader.has(key) {
            guard let ids = reader.stringArray(key, count: key == "blueprints" ? 1...64 : 0...64, maxLength: 64) else { continue }
            for (index, id) in ids.enumerated() where !ScheduledGermination.isBlueprintId(id) {
                reader.problem("\(key)[\(index)]", "'\(id.prefix(64))' is not a blueprint id")
            }
            if key == "blueprints" { seeds.blueprints = ids } else { seeds.approvedBlueprints = ids }
        }
        if reader.has("schedule") { seeds.schedule = ScheduledGermination.parse(reader, slotNames: slotNames, epochs: epochs) }
        if reader.has("allow_high_risk") { seeds.allowHighRisk = reader.bool("allow_high_risk") ?? false }
        if reader.has("host_frozen") { seeds.hostFrozen = reader.bool("host_frozen") ?? false }
        let integers: [(String, WritableKeyPath<SeedSettings, Int>, ClosedRange<Int>)] = [
            ("max_active_seeds", \.maxActiveSeeds, 1...16), ("max_germinations", \.maxGerminations, 0...1000),
            ("warmup_epochs", \.warmupEpochs, 0...Limits.maxEpochs), ("plateau_epochs", \.plateauEpochs, 1...Limits.maxEpochs),
            ("min_training_epochs", \.minTrainingEpochs, 1...1000), ("max_training_epochs", \.maxTrainingEpochs, 1...1000),
            ("graft_steps", \.graftSteps, 1...1_000_000), ("stabilization_epochs", \.stabilizationEpochs, 0...1000),
            ("evaluation_epochs", \.evaluationEpochs, 1...1000), ("embargo_epochs", \.embargoEpochs, 0...Limits.maxEpochs),
            ("learning_rate_warmup_epochs", \.learningRateWarmupEpochs, 0...1000),
        ]
        for (key, path, range) in integers where reader.has(key) {
            seeds[keyPath: path] = reader.int(key, range) ?? seeds[keyPath: path]
        }
        if reader.has("parameter_budget") { seeds.parameterBudget = reader.int("parameter_budget", 1...100_000_000) }
        if seeds.minTrainingEpochs > seeds.maxTrainingEpochs {
            reader.problem("min_training_epochs", "must not exceed max_training_epochs (\(seeds.maxTrainingEpochs))")
        }
        if reader.has("plateau_delta") { seeds.plateauDelta = reader.double("plateau_delta", 0...10) ?? seeds.plateauDelta }
        if reader.has("graft_temperature") {
            seeds.graftTemperature = reader.double("graft_temperature", 0.01...1e6) ?? seeds.graftTemperature
        }
        if reader.has("improvement_threshold") {
            seeds.improvementThreshold = reader.double("improvement_threshold", 0...10) ?? seeds.improvementThreshold
        }
        if reader.has("learning_rate_factor") {
            seeds.learningRateFactor = reader.float("learning_rate_factor", exclusiveLowerBound: 0, upTo: 100) ?? seeds.learningRateFactor
        }
        if reader.has("max_learning_rate_ratio") {
            seeds.maxLearningRateRatio = reader.float("max_learning_rate_ratio", exclusiveLowerBound: 1, upTo: 1000)
        }
        if reader.has("learning_rate_cooldown_epochs") {
            seeds.learningRateCooldownEpochs = reader.int("learning_rate_cooldown_epochs", 0...Limits.maxEpochs)
        }
        if reader.has("gradient_clip_norm") {
            seeds.gradientClipNorm = reader.float("gradient_clip_norm", exclusiveLowerBound: 0, upTo: 1e6) ?? seeds.gradientClipNorm
        }
        if reader.has("adaptive_gradient_clip") { seeds.adaptiveGradientClip = reader.bool("adaptive_gradient_clip") }
        if let fault = reader.object("fault_injection", required: false) {
            seeds.faultInjection = SeedFaultInjection(detachLeak: fault.bool("detach_leak") ?? false)
            fault.rejectUnknown()
        }
        reader.rejectUnknown()
        return seeds
    }
}

/// Collects problems from nested readers in document order.
final class ProblemList {
    var items: [JSONFieldProblem] = []
}

/// Typed, range-checked access to one JSON object that records a problem (instead of
/// stopping) for every missing, ill-typed or out-of-range field, and knows which keys it
/// read so the rest can be reported as unknown.
final class FieldReader {
    let members: [String: JSONValue]
    let path: String
    let problems: ProblemList
    private var read: Set<String> = []

    init(_ value: JSONValue, path: String, problems: ProblemList) {
        members = value.objectValue ?? [:]
        self.path = path
        self.problems = problems
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func problem(_ key: String, _ message: String) {
        problems.items.append(JSONFieldProblem(field: field(key), message: message))
    }

    func has(_ key: String) -> Bool {
        read.insert(key)
        if case .null? = members[key] { return false }
        return members[key] != nil
    }

    func value(_ key: String) -> JSONValue? {
        read.insert(key)
        return members[key]
    }

    private func present(_ key: String, required: Bool) -> JSONValue? {
        read.insert(key)
        guard let value = members[key], value != .null else {
            if required { problem(key, "required field is missing") }
            return nil
        }
        return value
    }

    func object(_ key: String, required: Bool) -> FieldReader? {
        guard let value = present(key, required: required) else { return nil }
        guard case .object = value else {
            problem(key, "expected an object")
            return nil
        }
        return FieldReader(value, path: field(key), problems: problems)
    }

    func int(_ key: String, _ range: ClosedRange<Int>, required: Bool = false) -> Int? {
        guard let value = present(key, required: required) else { return nil }
        let number: Int?
        switch value {
        case .int(let i): number = Int(exactly: i)
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: number = Int(d)
        default: number = nil
        }
        guard let number else {
            problem(key, "expected an integer")
            return nil
        }
        guard range.contains(number) else {
            problem(key, "\(number) is outside \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return number
    }

    func unsigned(_ key: String) -> UInt64? {
        guard let value = present(key, required: false) else { return nil }
        guard case .int(let i) = value, i >= 0 else {
            problem(key, "expected a non-negative integer")
            return nil
        }
        return UInt64(i)
    }

    func double(_ key: String, _ range: ClosedRange<Double>, required: Bool = false) -> Double? {
        guard let value = present(key, required: required) else { return nil }
        guard let number = value.doubleValue, number.isFinite else {
            problem(key, "expected a number")
            return nil
        }
        guard range.contains(number) else {
            problem(key, "\(number) is outside \(range.lowerBound)…\(range.upperBound)")
            return nil
        }
        return number
    }

    /// A float in (lower, upper].
    func float(_ key: String, exclusiveLowerBound lower: Float, upTo upper: Float, required: Bool = false) -> Float? {
        guard let value = present(key, required: required) else { return nil }
        guard let number = value.doubleValue, number.isFinite else {
            problem(key, "expected a number")
            return nil
        }
        // Compared as the 32-bit float it is stored as: 1e-300 is above 0 as a double but
        // would train with a learning rate of exactly 0.
        guard number > Double(lower), number <= Double(upper), Float(number) > lower else {
            problem(key, "\(number) must be greater than \(lower) (as a 32-bit float) and at most \(upper)")
            return nil
        }
        return Float(number)
    }

    /// A float in [lower, upper).
    func float(_ key: String, from lower: Float, below upper: Float) -> Float? {
        guard let value = present(key, required: false) else { return nil }
        guard let number = value.doubleValue, number.isFinite else {
            problem(key, "expected a number")
            return nil
        }
        guard number >= Double(lower), number < Double(upper) else {
            problem(key, "\(number) must be at least \(lower) and below \(upper)")
            return nil
        }
        return Float(number)
    }

    func bool(_ key: String) -> Bool? {
        guard let value = present(key, required: false) else { return nil }
        guard case .bool(let flag) = value else {
            problem(key, "expected true or false")
            return nil
        }
        return flag
    }

    func string(_ key: String, maxLength: Int, required: Bool = false) -> String? {
        guard let value = present(key, required: required) else { return nil }
        guard case .string(let text) = value else {
            problem(key, "expected a string")
            return nil
        }
        guard text.count <= maxLength else {
            problem(key, "longer than \(maxLength) characters")
            return nil
        }
        return text
    }

    /// A path inside the datasets directory: relative, no `..`, no empty or hidden parts.
    func relativePath(_ key: String) -> String? {
        guard let text = string(key, maxLength: 1024) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard !text.isEmpty, !text.hasPrefix("/"), parts.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }), !text.contains("\0") else {
            problem(key, "must be a relative path inside the datasets directory (no leading '/', no '..' or hidden parts)")
            return nil
        }
        return text
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type, required: Bool = false) -> E?
    where E.RawValue == String {
        guard let value = present(key, required: required) else { return nil }
        guard case .string(let text) = value, let parsed = E(rawValue: text) else {
            problem(key, "must be one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        return parsed
    }

    func intArray(_ key: String, count: ClosedRange<Int>, each: ClosedRange<Int>) -> [Int]? {
        guard let value = present(key, required: false) else { return nil }
        guard case .array(let items) = value else {
            problem(key, "expected an array of integers")
            return nil
        }
        guard count.contains(items.count) else {
            problem(key, "needs \(count.lowerBound)…\(count.upperBound) entries, found \(items.count)")
            return nil
        }
        var result: [Int] = []
        for (index, item) in items.enumerated() {
            guard case .int(let raw) = item, let number = Int(exactly: raw), each.contains(number) else {
                problems.items.append(
                    JSONFieldProblem(
                        field: "\(field(key))[\(index)]",
                        message: "expected an integer in \(each.lowerBound)…\(each.upperBound)"))
                continue
            }
            result.append(number)
        }
        return result.count == items.count ? result : nil
    }

    func stringArray(_ key: String, count: ClosedRange<Int>, maxLength: Int) -> [String]? {
        guard let value = present(key, required: false) else { return nil }
        guard case .array(let items) = value else {
            problem(key, "expected an array of strings")
            return nil
        }
        guard count.contains(items.count) else {
            problem(key, "needs \(count.lowerBound)…\(count.upperBound) entries, found \(items.count)")
            return nil
        }
        var result: [String] = []
        for (index, item) in items.enumerated() {
            guard case .string(let text) = item, !text.isEmpty, text.count <= maxLength else {
                problems.items.append(
                    JSONFieldProblem(field: "\(field(key))[\(index)]", message: "expected a string of 1…\(maxLength) characters"))
                continue
            }
            result.append(text)
        }
        return result.count == items.count ? result : nil
    }

    /// Reports every key nobody asked for (a typo must not be silently ignored).
    func rejectUnknown() {
        for key in members.keys.sorted() where !read.contains(key) {
            problem(key, "unknown field")
        }
    }
}

extension ModelSpec {
    /// Whether the host has conv layers (declared by `layers`).
    public var isConvolutional: Bool {
        layers?.contains { if case .conv1d = $0 { true } else { false } } ?? false
    }

    /// Problems of `layers` over a signal of `inputs` features, each naming its field: a
    /// kernel that does not fit what the previous layers (or strides) left of the signal.
    public func shapeProblems(inputs: Int, batchSize: Int) -> [JSONFieldProblem] {
        ModelSpec.problems(of: resolvedLayers(inputs: inputs), batchSize: batchSize) + branchProblems(inputs: inputs)
    }

    /// Declared conv branches whose slot layer's input is too short for their kernels and
    /// strides (`model.branches[i].blueprint`, relative to `model`).
    public func branchProblems(inputs: Int) -> [JSONFieldProblem] {
        let resolved = resolvedLayers(inputs: inputs)
        let widths = [resolved.convolutions.last?.outputWidth ?? inputs] + resolved.hiddenSizes + [2]
        return (branches ?? []).enumerated().compactMap { index, branch in
            guard let shape = branch.resolved(widths: widths), !shape.fits else { return nil }
            return JSONFieldProblem(
                field: "model.branches[\(index)].blueprint",
                message:
                    "\(branch.blueprint) needs a longer signal than the \(shape.inputs) positions \(branch.slot)'s layer reads (kernels \(shape.kernelSizes.map(String.init).joined(separator: ",")), stride \(shape.stride)): nothing is left"
            )
        }
    }

    /// Kernels with nothing left to read, then — for layers that fit — work and memory a run
    /// may ask for: conv layers multiply their parameters by the signal length, so a small
    /// parameter count can still hide an epoch of petaFLOPs or a terabyte of im2col buffers.
    static func problems(
        of shapes: (convolutions: [Conv1DLayerShape], hiddenSizes: [Int], problems: [(index: Int, message: String)]),
        batchSize: Int
    ) -> [JSONFieldProblem] {
        var problems = shapes.problems.map {
            JSONFieldProblem(field: "model.layers[\($0.index)].kernel_size", message: $0.message)
        }
        guard problems.isEmpty, !shapes.convolutions.isEmpty else { return problems }
        let convolutions = shapes.convolutions
        let multiplyAdds = convolutions.reduce(0.0) { $0 + Double($1.multiplyAdds) }
        if multiplyAdds > Double(RunConfig.Limits.maxMultiplyAddsPerExample) {
            problems.append(
                JSONFieldProblem(
                    field: "model.layers",
                    message:
                        "the conv layers need \(Int(multiplyAdds)) multiply-adds per example; the limit is \(RunConfig.Limits.maxMultiplyAddsPerExample)"
                ))
        }
        // What `Conv1DLayer` allocates per example: z, y, dz, ∂L/∂y and two im2col matrices.
        let perExample = convolutions.reduce(0.0) {
            $0 + 4 * Double($1.outputWidth) + 2 * Double($1.outputLength) * Double($1.kernelSize * $1.inputChannels)
        }
        let floats = perExample * Double(max(batchSize, 256))
        if floats > Double(RunConfig.Limits.maxActivationFloats) {
            problems.append(
                JSONFieldProblem(
                    field: "model.layers",
                    message:
                        "the conv layers' buffers would hold \(Int(floats)) floats at this batch size; the limit is \(RunConfig.Limits.maxActivationFloats)"
                ))
        }
        return problems
    }
}

extension DatasetSpec {
    /// Features per example when the config alone says (bundled and generated data sets),
    /// so layer shapes can be checked with every other field; nil for files.
    var knownFeatureCount: Int? {
        switch kind {
        case .mnist1d: 40
        case .digits: 64
        case .gaussianBlobs: features ?? 2
        case .csv, .idx: nil
        default: 2
        }
    }
}
