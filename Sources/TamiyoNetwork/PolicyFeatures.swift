import Foundation

/// The feature encoding of the policy input, in one place so Tamiyo (live) and Simic (from
/// field reports and recorded observations) build identical vectors. Every value is clamped
/// to [−10, 10]; non-finite values become 0; unused positions are 0 (reserved).
public enum PolicyFeatures {
    /// Positions of the global feature vector (width `PolicyNetworkConfig.featureDim`).
    public enum Global: Int, CaseIterable, Sendable {
        case validationLoss = 0, validationAccuracy, trainLoss, trainAccuracy, lossDelta, logGradientNorm, progress, plateau,
            gapToBest, liveSeeds, seedParameterRatio, germinationsUsed, conservative, openSlots, liveAlpha, liveEpochsInStage,
            liveShadowAdvantage, liveAblationGain, liveViolations, liveLogGradientNorm, liveDrift, liveRampComplete, livePaused,
            fossils, liveLossVsBaseline, logLearningRate
    }

    /// What the global features are computed from.
    public struct Snapshot: Sendable, Equatable {
        public var validationLoss = 0.0
        public var validationAccuracy = 0.0
        public var trainLoss = 0.0
        public var trainAccuracy = 0.0
        public var lossDelta = 0.0
        public var gradientNorm = 0.0
        public var epoch = 0
        public var epochs = 1
        /// Epochs since the best validation loss improved, over the plateau patience.
        public var plateauRatio = 0.0
        public var gapToBest = 0.0
        public var liveSeeds = 0
        public var seedParameters = 0
        public var hostParameters = 1
        public var germinations = 0
        public var maxGerminations = 1
        public var conservative = false
        public var openSlots = 0
        public var slots = 1
        public var fossils = 0
        public var learningRate = 1e-3
        /// The live seed, when there is one.
        public var live: Live?

        public struct Live: Sendable, Equatable {
            public var alpha = 0.0
            public var epochsInStage = 0
            /// Host training loss − the seed's shadow loss (positive: the seed would help).
            public var shadowAdvantage = 0.0
            /// Validation loss without the seed − with it (positive: it helps).
            public var ablationGain = 0.0
            public var violations = 0
            public var gradientNorm = 0.0
            public var drift = 0.0
            public var rampComplete = false
            public var paused = false
            /// Validation loss now − at germination.
            public var lossVsBaseline = 0.0
            public init() {}
        }

        public init() {}
    }

    public static func global(_ s: Snapshot, dimension: Int = PolicyNetworkConfig().featureDim) -> [Float] {
        var f = [Float](repeating: 0, count: dimension)
        func set(_ position: Global, _ value: Double) {
            guard position.rawValue < dimension else { return }
            f[position.rawValue] = value.isFinite ? Float(min(max(value, -10), 10)) : 0
        }
        set(.validationLoss, s.validationLoss)
        set(.validationAccuracy, s.validationAccuracy)
        set(.trainLoss, s.trainLoss)
        set(.trainAccuracy, s.trainAccuracy)
        set(.lossDelta, s.lossDelta)
        set(.logGradientNorm, log1p(max(0, s.gradientNorm)))
        set(.progress, Double(s.epoch) / Double(max(1, s.epochs)))
        set(.plateau, min(2, s.plateauRatio))
        set(.gapToBest, s.gapToBest)
        set(.liveSeeds, Double(s.liveSeeds))
        set(.seedParameterRatio, Double(s.seedParameters) / Double(max(1, s.hostParameters)))
        set(.germinationsUsed, Double(s.germinations) / Double(max(1, s.maxGerminations)))
        set(.conservative, s.conservative ? 1 : 0)
        set(.openSlots, Double(s.openSlots) / Double(max(1, s.slots)))
        set(.fossils, Double(s.fossils) / 8)
        set(.logLearningRate, (log10(max(s.learningRate, 1e-12)) + 5) / 5)
        if let live = s.live {
            set(.liveAlpha, live.alpha)
            set(.liveEpochsInStage, Double(live.epochsInStage) / 10)
            set(.liveShadowAdvantage, live.shadowAdvantage)
            set(.liveAblationGain, live.ablationGain)
            set(.liveViolations, Double(live.violations) / 3)
            set(.liveLogGradientNorm, log1p(max(0, live.gradientNorm)))
            set(.liveDrift, live.drift)
            set(.liveRampComplete, live.rampComplete ? 1 : 0)
            set(.livePaused, live.paused ? 1 : 0)
            set(.liveLossVsBaseline, live.lossVsBaseline)
        }
        return f
    }

    /// Slot features (width `slotFeatureDim` = 8).
    public static func slot(
        width: Int, open: Bool, embargoed: Bool, hasLiveSeed: Bool, fossils: Int, fossilParameters: Int,
        position: Int, slots: Int, allowed: Bool
    ) -> [Float] {
        [
            Float(width) / 64, open ? 1 : 0, embargoed ? 1 : 0, hasLiveSeed ? 1 : 0, Float(fossils) / 8, Float(fossilParameters) / 1000,
            Float(position) / Float(max(1, slots)), allowed ? 1 : 0,
        ]
    }

    /// What the run has measured of a candidate's growth family (Tamiyo's `FamilyRecord`).
    public struct FamilyOutcome: Sendable, Equatable {
        public var trials = 0
        public var fossilized = 0
        /// Culls since the family's last fossil.
        public var cullsSinceFossil = 0
        /// Mean validation-loss gain per 1 000 added parameters of its fossilised trials.
        public var meanGainPerKiloparameter = 0.0
        public init() {}
    }

    /// Blueprint metadata features (width `blueprintFeatureDim` = 10): risk, tier one-hot
    /// (SAFE, EXPERIMENTAL, HIGH_RISK), curriculum stage / 6, log10(parameters + 1) / 4; then
    /// the run's measurements of its family: untried (1/0), share of its trials kept, its cull
    /// streak / 2 (≤ 1), tanh(mean gain per 1 000 added parameters × 10).
    public static func blueprint(
        risk: Double, tier: String, stage: Int, parameters: Int, family: FamilyOutcome = FamilyOutcome()
    ) -> [Float] {
        let gain = family.meanGainPerKiloparameter.isFinite ? tanh(10 * family.meanGainPerKiloparameter) : 0
        return [
            Float(risk), tier.hasSuffix("SAFE") ? 1 : 0, tier.hasSuffix("EXPERIMENTAL") ? 1 : 0, tier.hasSuffix("HIGH_RISK") ? 1 : 0,
            Float(stage) / 6, Float(log10(Double(max(0, parameters)) + 1) / 4), family.trials == 0 ? 1 : 0,
            family.trials > 0 ? Float(family.fossilized) / Float(family.trials) : 0, Float(min(2, family.cullsSinceFossil)) / 2,
            Float(gain),
        ]
    }

    /// Embedding row of a blueprint id: 1 + FNV-1a-64(id) mod (vocab − 1); "" → 0. Stable
    /// across processes and machines (the reference's process-seeded hash was not).
    public static func blueprintIndex(_ id: String, vocab: Int = PolicyNetworkConfig().blueprintVocab) -> Int {
        guard !id.isEmpty, vocab > 1 else { return 0 }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in id.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return 1 + Int(hash % UInt64(vocab - 1))
    }
}
