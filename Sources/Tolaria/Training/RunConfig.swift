import Foundation
public import Kernels
import Leyline

/// Where a run's examples come from. One struct for every kind (the fields a kind does not
/// use must be absent — `RunConfig.parse` says so), stored as given in the run registry.
public struct DatasetSpec: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case twoMoons = "two_moons"
        case twoSpirals = "two_spirals"
        case xor
        case checkerboard
        case gaussianBlobs = "gaussian_blobs"
        /// The bundled handwritten digits (1,797 8×8 images, 10 classes).
        case digits
        /// The bundled MNIST-1D (5,000 signals of 40 floats, 10 classes) with the paper's split:
        /// rows 1–4,000 train, rows 4,001–5,000 are the test split.
        case mnist1d
        /// A CSV file under the datasets directory.
        case csv
        /// A pair of MNIST-style IDX files under the datasets directory.
        case idx

        public var syntheticTask: SyntheticTask? { SyntheticTask(rawValue: rawValue) }
    }

    /// `label_column`: a 0-based index (negative counts from the end) or a header name.
    public enum LabelColumn: Sendable, Codable, Hashable {
        case index(Int)
        case name(String)

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let index = try? container.decode(Int.self) { self = .index(index) } else { self = .name(try container.decode(String.self)) }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .index(let index): try container.encode(index)
            case .name(let name): try container.encode(name)
            }
        }
    }

    public var kind: Kind
    // Synthetic tasks.
    public var samples: Int?
    public var noise: Double?
    public var classes: Int?
    public var features: Int?
    public var cells: Int?
    /// Seed of the generator (default: the run's seed).
    public var seed: UInt64?
    // Files (paths relative to the datasets directory).
    public var path: String?
    public var labelColumn: LabelColumn?
    public var hasHeader: Bool?
    public var delimiter: String?
    public var images: String?
    public var labels: String?
    /// Default: `max_abs` for digits and IDX images, `none` otherwise.
    public var scaling: FeatureScaling?
    public var validationFraction: Double = 0.2
    /// A fixed held-out split instead of a random validation fraction: the file's last
    /// `testRows` rows (CSV, IDX, digits) …
    public var testRows: Int?
    /// … or a second CSV file (`testPath`) or IDX pair (`testImages`, `testLabels`).
    public var testPath: String?
    public var testImages: String?
    public var testLabels: String?

    public init(kind: Kind) { self.kind = kind }

    /// Rows of the bundled MNIST-1D that form the paper's test split (its last 1,000).
    public static let mnist1dTestRows = 1000

    /// Whether the held-out figures of a run are test figures (a fixed split named by the
    /// data set or the config) or validation figures (a seeded random fraction).
    public var heldOutSplit: HeldOutSplit {
        kind == .mnist1d || testRows != nil || testPath != nil || testImages != nil ? .test : .validation
    }

    public var effectiveScaling: FeatureScaling {
        scaling ?? (kind == .digits || kind == .idx ? .maxAbs : .none)
    }
}

/// Which split the held-out figures of a run (its `validation_*` metrics) come from.
public enum HeldOutSplit: String, Sendable, Codable {
    /// A seeded random fraction of the data (`validation_fraction`).
    case validation
    /// A fixed split published with the data (MNIST-1D) or named by the config.
    case test
}

/// The host network of a run.
public struct ModelSpec: Sendable, Codable, Equatable {
    public var hiddenSizes: [Int] = [32]
    /// The host as a sequence of layers (conv1d, flatten, dense) instead of `hiddenSizes`;
    /// nil for an MLP host. The output layer to the classes is always appended.
    public var layers: [HostLayerSpec]?
    public var activation: Activation = .relu
    public var initialisation: WeightInitialisation = .kaimingUniform
    /// Conv branches part of the host from the start (`model.branches`): what a grown run's
    /// fossilised structural seeds become, declared — e.g. its `static_final` control. nil: none.
    public var branches: [BranchSpec]?
    public init() {}

    /// The declared branches resolved over the dense widths (input to logits); entries that
    /// do not resolve are left out (the parser refuses them).
    public func resolvedBranches(widths: [Int]) -> [ConvBranchShape] {
        (branches ?? []).compactMap { $0.resolved(widths: widths) }
    }
}

/// A conv branch declared in `model.branches`: a conv-branch blueprint (`conv-branch-16` or its
/// template id) and the slot whose layer input it reads (`slot-0`).
public struct BranchSpec: Sendable, Codable, Equatable {
    public var blueprint: String
    public var slot: String

    public init(blueprint: String, slot: String) {
        self.blueprint = blueprint
        self.slot = slot
    }

    /// The hidden layer of `slot-<l>`; nil for another name.
    public var layer: Int? {
        guard slot.hasPrefix("slot-"), let layer = Int(slot.dropFirst("slot-".count)), layer >= 0,
            slot == SeedSlot.name(forLayer: layer)
        else { return nil }
        return layer
    }

    /// Its shape over the dense widths (input to logits): nil for an unknown blueprint or slot.
    public func resolved(widths: [Int]) -> ConvBranchShape? {
        guard let entry = ConvBranchBlueprint.named(blueprint), let layer, layer + 2 < widths.count else { return nil }
        return ConvBranchShape(
            layer: layer, inputs: widths[layer], channels: entry.channels, kernelSizes: entry.kernelSizes, stride: entry.stride,
            padding: entry.padding, outputs: widths[layer + 2], blueprint: entry.alias)
    }
}

/// When a run rolls back to its last checkpoint, and what it changes when it does.
public struct RollbackPolicy: Sendable, Codable, Equatable {
    /// An epoch whose training loss exceeds this × the mean of the last good epochs (taken
    /// as at least 0.1) is a loss explosion (design: 15× ⇒ SEVERE ⇒ rollback).
    public var spikeFactor: Double = 15
    /// Rollbacks allowed before the run fails.
    public var maxRollbacks: Int = 3
    /// Learning rates are multiplied by this after each rollback, so a diverging run does not
    /// walk into the same wall again.
    public var learningRateFactor: Double = 0.5
    public init() {}
}

/// Test hook: corrupts the host weights with NaN once, at the start of the given batch of
/// the given epoch, so the loss genuinely goes non-finite and recovery can be exercised.
public struct FaultInjection: Sendable, Codable, Equatable {
    public var nanAtEpoch: Int
    public var nanAtBatch: Int = 0
    public init(nanAtEpoch: Int, nanAtBatch: Int = 0) {
        self.nanAtEpoch = nanAtEpoch
        self.nanAtBatch = nanAtBatch
    }
}

/// Everything a training run needs; what `POST /api/v1/runs` accepts (snake_case keys).
public struct RunConfig: Sendable, Codable, Equatable {
    public var name: String?
    public var experimentName: String = "default"
    public var dataset: DatasetSpec
    public var model = ModelSpec()
    public var epochs: Int
    public var batchSize: Int = 32
    public var optimizer: OptimizerSettings.Kind = .adam
    public var learningRate: Float
    public var momentum: Float = 0.9
    public var weightDecay: Float?
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var epsilon: Float = 1e-8
    public var seed: UInt64 = 0
    /// Epochs between checkpoints.
    public var checkpointInterval: Int = 1
    /// Checkpoint files kept per run (older ones are pruned).
    public var keepCheckpoints: Int = 3
    public var gradientAccumulationSteps: Int = 1
    /// Clip the global gradient norm to this (off when absent).
    public var gradientClipNorm: Float?
    /// Training targets (1 − ε)·one-hot + ε/classes instead of the one-hot (off when absent).
    /// Reported losses stay the plain cross-entropy.
    public var labelSmoothing: Float?
    /// Standard deviation of Gaussian noise added to every training input (off when absent;
    /// per-epoch seeded, so a resumed run sees the same noise).
    public var inputNoise: Float?
    /// Cosine decay of every learning rate to zero over the run's last this many epochs (off
    /// when absent): a multiplier on the groups' rates, which rollbacks and the controller
    /// still set.
    public var learningRateDecayEpochs: Int?

    /// The decay multiplier for `epoch` (1 before the decay window).
    public func learningRateScale(epoch: Int) -> Float {
        guard let window = learningRateDecayEpochs, window > 0, epoch >= epochs - window else { return 1 }
        let progress = (Double(epoch - (epochs - window)) + 0.5) / Double(window)
        return Float(0.5 * (1 + cos(Double.pi * min(1, progress))))
    }
    public var rollback = RollbackPolicy()
    /// Whole-epoch time above this raises an `epoch_time_high` event (the 18 ms budget is
    /// for the epoch boundary only, never for the epoch).
    public var epochTimeBudgetMs: Double?
    public var faultInjection: FaultInjection?
    /// The end-of-epoch controller (nil: none — runs stored before Tamiyo decode as before).
    public var policy: ControlPolicy?
    /// How seeds are grafted and gated (nil: the defaults).
    public var seeds: SeedSettings?

    public var effectivePolicy: ControlPolicy { policy ?? .none }
    public var effectiveSeeds: SeedSettings { seeds ?? SeedSettings() }

    public init(dataset: DatasetSpec, epochs: Int, learningRate: Float) {
        self.dataset = dataset
        self.epochs = epochs
        self.learningRate = learningRate
    }

    public var optimizerSettings: OptimizerSettings {
        var settings = OptimizerSettings(kind: optimizer, learningRate: learningRate)
        settings.beta1 = beta1
        settings.beta2 = beta2
        settings.epsilon = epsilon
        settings.momentum = optimizer == .sgd ? momentum : 0
        // AdamW without an explicit decay uses the customary 0.01; the others none.
        settings.weightDecay = weightDecay ?? (optimizer == .adamw ? 0.01 : 0)
        return settings
    }
}
