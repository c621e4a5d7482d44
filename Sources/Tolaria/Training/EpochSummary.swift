public import Leyline

/// A seed slot as reported each epoch.
public struct SlotSummary: Sendable, Codable, Equatable {
    public var name: String
    public var width: Int
    /// "identity" when empty, else the grafted module's kind.
    public var module: String
    /// Parameters the grafted module adds (0 when empty).
    public var parameters: Int
    /// Validation loss and accuracy with the module bypassed, when the module asked for an
    /// ablation this epoch (Kasmina while it evaluates a seed).
    public var ablationValidationLoss: Double?
    public var ablationValidationAccuracy: Double?

    public init(
        name: String, width: Int, module: String, parameters: Int, ablationValidationLoss: Double? = nil,
        ablationValidationAccuracy: Double? = nil
    ) {
        self.name = name
        self.width = width
        self.module = module
        self.parameters = parameters
        self.ablationValidationLoss = ablationValidationLoss
        self.ablationValidationAccuracy = ablationValidationAccuracy
    }
}

/// Everything one finished epoch produced: what a Leyline `SystemStatePacket` and the
/// Tolaria telemetry of the spec need. Losses are sample-weighted means (Σ loss·B / Σ B), the
/// validation numbers come from a real pass over the held-out split, and the boundary
/// latency covers only the end-of-epoch hook, not the epoch.
public struct EpochSummary: Sendable, Codable, Equatable {
    public var runId: String
    public var experimentName: String
    /// 0-based.
    public var epoch: Int
    public var epochs: Int
    /// Optimizer steps since the start of the run.
    public var globalStep: Int64
    public var trainLoss: Double
    public var trainAccuracy: Double
    public var trainSamples: Int
    /// Mean over the epoch's optimizer steps of the global L2 norm of all trainable gradients
    /// (before clipping).
    public var gradientNorm: Double
    public var validationLoss: Double
    public var validationAccuracy: Double
    public var validationSamples: Int
    /// Wall time of the training batch loop (monotonic clock).
    public var epochMs: Double
    public var validationMs: Double
    /// Epoch-boundary latency: state assembly + controller + applying its decisions. The
    /// 18 ms budget applies to this.
    public var boundaryMs: Double
    /// The controller call alone (inside `boundaryMs`).
    public var controllerMs: Double
    public var samplesPerSecond: Double
    public var learningRates: [String: Float]
    public var slots: [SlotSummary]
    /// The seeds in the slots, as their modules report them (nil without Kasmina; optional
    /// so summaries stored before it existed still decode).
    public var seeds: [SeedState]? = nil
    /// Wall clock at the end of the epoch, ns since 1970.
    public var timestampNs: Int64
    /// Which split the `validation_*` figures come from: `test` for a fixed held-out split
    /// (MNIST-1D's published one, or one the config names), `validation` for a random
    /// fraction (nil in summaries stored before the distinction).
    public var heldOutSplit: HeldOutSplit? = nil
    /// Training FLOPs of this epoch and of the run so far (forward + backward + optimizer,
    /// host and seeds; see `TrainingCost`).
    public var trainingFlops: Double? = nil
    public var totalTrainingFlops: Double? = nil
    /// The conv branches part of the host at the end of the epoch (fossilised structural seeds
    /// or declared ones), as `model.branches` would declare them; nil when there are none.
    public var branches: [BranchSpec]? = nil
    /// The conv layers inserted into the host at the end of the epoch (fossilised depth seeds):
    /// each one's blueprint and the conv slot it grew in; nil when there are none.
    public var insertions: [BranchSpec]? = nil

    public var seedsActive: Int { slots.filter { $0.module != "identity" }.count }

    /// The spec's telemetry metric names and units (`tolaria.training.loss`, …).
    public var telemetryMetrics: [(name: String, value: Double, unit: String)] {
        var metrics: [(String, Double, String)] = [
            ("tolaria.training.loss", trainLoss, "loss"),
            ("tolaria.training.accuracy", trainAccuracy, "ratio"),
            ("tolaria.validation.loss", validationLoss, "loss"),
            ("tolaria.validation.accuracy", validationAccuracy, "ratio"),
            ("tolaria.training.latency_ms", epochMs, "ms"),
            ("tolaria.training.samples_per_s", samplesPerSecond, "samples/s"),
            ("tolaria.training.gradient_norm", gradientNorm, "norm"),
            ("tolaria.seeds.active", Double(seedsActive), "count"),
        ]
        if boundaryMs > 0 { metrics.append(("tolaria.epoch_hook.latency_ms", boundaryMs, "ms")) }
        if heldOutSplit == .test {
            metrics.append(("tolaria.test.loss", validationLoss, "loss"))
            metrics.append(("tolaria.test.accuracy", validationAccuracy, "ratio"))
        }
        if let trainingFlops { metrics.append(("tolaria.training.flops", trainingFlops, "flop")) }
        if let totalTrainingFlops { metrics.append(("tolaria.run.training_flops", totalTrainingFlops, "flop")) }
        return metrics
    }

    /// Telemetry health of the epoch (spec §6, with the §12 fix: the 18 ms budget judges the
    /// epoch boundary only; the whole epoch has its own, optional, budget). Later rules win.
    public func health(epochTimeBudgetMs: Double?) -> (status: HealthStatus, summary: String) {
        var result = (status: HealthStatus.healthy, summary: "stable")
        if boundaryMs > Trainer.boundaryBudgetMs { result = (.degraded, "epoch_hook_latency_high") }
        if let budget = epochTimeBudgetMs, epochMs > budget { result = (.degraded, "latency_high") }
        if trainSamples == 0 { result = (.unhealthy, "zero_samples") }
        return result
    }
}

/// Something noteworthy during a run (rollback, non-finite loss, budget overrun, …).
public struct TrainingEvent: Sendable, Codable, Equatable {
    public enum Level: String, Sendable, Codable {
        case info, warning, error
    }

    /// Stable names (telemetry event descriptions).
    public enum Kind: String, Sendable, Codable {
        case lossNonFinite = "loss_non_finite"
        case lossSpike = "loss_spike"
        case rollback
        case checkpointFailed = "checkpoint_failed"
        case epochHookLatencyHigh = "epoch_hook_latency_high"
        case epochTimeHigh = "epoch_time_high"
        case controllerError = "controller_error"
        case controllerStop = "controller_stop"
        case resumed
        case runCompleted = "run_completed"
        case runFailed = "run_failed"
    }

    public var runId: String
    public var epoch: Int
    public var kind: Kind
    public var level: Level
    public var message: String
    public var attributes: [String: String]
    public var timestampNs: Int64

    public init(runId: String, epoch: Int, kind: Kind, level: Level, message: String, attributes: [String: String] = [:]) {
        self.runId = runId
        self.epoch = epoch
        self.kind = kind
        self.level = level
        self.message = message
        self.attributes = attributes
        timestampNs = WallClock.nanoseconds()
    }
}
