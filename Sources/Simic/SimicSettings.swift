public import EsperJSON
import Foundation

/// What a training job may set (`POST /api/v1/simic/jobs`); every field has a default and is
/// range-checked by `problems()`. Names follow 04-simic §2/§4 (the "design" PPO values where
/// the reference's differ: clip ε 0.2, GAE λ 0.95, lr 3e-4, grad clip 1.0).
public struct SimicTrainingSettings: Sendable, Equatable, Codable {
    /// Outer PPO updates: advantages, values and the clip anchor are recomputed before each.
    public var updates = 10
    /// Passes over the training steps per update.
    public var epochs = 4
    /// Behaviour-cloning passes before PPO (maximum likelihood of the logged actions): the
    /// start of behaviour-proximal PPO, which keeps actions the data never tried from
    /// drifting to the top by chance. 0 = PPO from the deployed weights.
    public var cloningEpochs = 100
    /// LoRA adapters on the trunk and the action/value heads (0 = off): the base weights and
    /// embeddings are frozen, only the adapters train; the published weights are the merged
    /// W + (alpha/rank)·B·A in TamiyoNetwork's one format.
    public var loraRank = 0
    public var loraAlpha = 8.0
    public var minibatchSize = 64
    public var learningRate = 3e-4
    public var clipEpsilon = 0.2
    public var valueCoef = 0.5
    public var entropyCoef = 0.01
    public var gamma = 0.99
    public var gaeLambda = 0.95
    /// Global L2 norm of the gradient is clipped to this.
    public var gradClip = 1.0
    /// An update stops early when the approximate KL to its anchor exceeds this (0 = never).
    public var targetKL = 0.05
    /// Share of the reports held out for validation (seeded split).
    public var holdoutFraction = 0.2
    /// Reward cost per 1,000 parameters a fossilised seed added (0 = the spec's reward only).
    public var parameterPenalty = 0.0
    /// Reports to sample from the replay buffer (0 = all of them).
    public var sampleSize = 0
    public var seed: UInt64 = 1
    /// Whether a policy that passes validation is published (stored and announced).
    public var publish = true
    public var validation = ValidationThresholds()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case updates, epochs, cloningEpochs = "cloning_epochs", loraRank = "lora_rank", loraAlpha = "lora_alpha"
        case minibatchSize = "minibatch_size", learningRate = "learning_rate",
            clipEpsilon = "clip_epsilon"
        case valueCoef = "value_coef", entropyCoef = "entropy_coef", gamma, gaeLambda = "gae_lambda", gradClip = "grad_clip"
        case targetKL = "target_kl", holdoutFraction = "holdout_fraction", parameterPenalty = "parameter_penalty"
        case sampleSize = "sample_size", seed, publish, validation
    }

    public init(from decoder: any Decoder) throws {
        let d = SimicTrainingSettings()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        updates = try c.decodeIfPresent(Int.self, forKey: .updates) ?? d.updates
        epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        cloningEpochs = try c.decodeIfPresent(Int.self, forKey: .cloningEpochs) ?? d.cloningEpochs
        loraRank = try c.decodeIfPresent(Int.self, forKey: .loraRank) ?? d.loraRank
        loraAlpha = try c.decodeIfPresent(Double.self, forKey: .loraAlpha) ?? d.loraAlpha
        minibatchSize = try c.decodeIfPresent(Int.self, forKey: .minibatchSize) ?? d.minibatchSize
        learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        clipEpsilon = try c.decodeIfPresent(Double.self, forKey: .clipEpsilon) ?? d.clipEpsilon
        valueCoef = try c.decodeIfPresent(Double.self, forKey: .valueCoef) ?? d.valueCoef
        entropyCoef = try c.decodeIfPresent(Double.self, forKey: .entropyCoef) ?? d.entropyCoef
        gamma = try c.decodeIfPresent(Double.self, forKey: .gamma) ?? d.gamma
        gaeLambda = try c.decodeIfPresent(Double.self, forKey: .gaeLambda) ?? d.gaeLambda
        gradClip = try c.decodeIfPresent(Double.self, forKey: .gradClip) ?? d.gradClip
        targetKL = try c.decodeIfPresent(Double.self, forKey: .targetKL) ?? d.targetKL
        holdoutFraction = try c.decodeIfPresent(Double.self, forKey: .holdoutFraction) ?? d.holdoutFraction
        parameterPenalty = try c.decodeIfPresent(Double.self, forKey: .parameterPenalty) ?? d.parameterPenalty
        sampleSize = try c.decodeIfPresent(Int.self, forKey: .sampleSize) ?? d.sampleSize
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        publish = try c.decodeIfPresent(Bool.self, forKey: .publish) ?? d.publish
        validation = try c.decodeIfPresent(ValidationThresholds.self, forKey: .validation) ?? d.validation
    }

    /// Every out-of-range value, by field name (empty when valid).
    public func problems() -> [JSONFieldProblem] {
        var p: [JSONFieldProblem] = []
        func check(_ ok: Bool, _ field: String, _ message: String) {
            if !ok { p.append(JSONFieldProblem(field: field, message: message)) }
        }
        check((1...1000).contains(updates), "updates", "between 1 and 1000")
        check((1...100).contains(epochs), "epochs", "between 1 and 100")
        check((0...1000).contains(cloningEpochs), "cloning_epochs", "between 0 and 1000")
        check((0...64).contains(loraRank), "lora_rank", "between 0 (off) and 64")
        check(loraAlpha.isFinite && loraAlpha > 0 && loraAlpha <= 1024, "lora_alpha", "in (0, 1024]")
        check((1...65536).contains(minibatchSize), "minibatch_size", "between 1 and 65536")
        check(learningRate.isFinite && learningRate > 0 && learningRate <= 1, "learning_rate", "in (0, 1]")
        check(clipEpsilon.isFinite && clipEpsilon > 0 && clipEpsilon < 1, "clip_epsilon", "in (0, 1)")
        check(valueCoef.isFinite && valueCoef >= 0 && valueCoef <= 100, "value_coef", "in [0, 100]")
        check(entropyCoef.isFinite && entropyCoef >= 0 && entropyCoef <= 10, "entropy_coef", "in [0, 10]")
        check(gamma.isFinite && gamma >= 0 && gamma <= 1, "gamma", "in [0, 1]")
        check(gaeLambda.isFinite && gaeLambda >= 0 && gaeLambda <= 1, "gae_lambda", "in [0, 1]")
        check(gradClip.isFinite && gradClip > 0, "grad_clip", "a positive number")
        check(targetKL.isFinite && targetKL >= 0, "target_kl", "0 (off) or a positive number")
        check(holdoutFraction.isFinite && holdoutFraction >= 0 && holdoutFraction < 1, "holdout_fraction", "in [0, 1)")
        check(parameterPenalty.isFinite && parameterPenalty >= 0, "parameter_penalty", "0 or a positive number")
        check((0...1_000_000).contains(sampleSize), "sample_size", "between 0 (all) and 1000000")
        p += validation.problems().map { JSONFieldProblem(field: "validation." + $0.field, message: $0.message) }
        return p
    }
}

/// The validation harness's thresholds (04-simic §5; defaults = what the trainer passes).
public struct ValidationThresholds: Sendable, Equatable, Codable {
    public var minAverageReward = 0.0
    public var maxPolicyLoss = 5.0
    public var maxValueLoss = 50.0
    public var maxParamLoss = 5.0
    public var minEntropy = 0.0
    /// Fewer training reports than this fails validation (nothing learnt from nothing).
    public var minReports = 1
    /// Largest share of held-out decisions where the policy would take an action the training
    /// data never took (beyond the spec: offline data cannot vouch for those).
    public var maxOutOfSupport = 0.5
    /// Largest share of held-out decisions where the policy takes a rare action: one the
    /// training data took in fewer than `rareActionShare` of its decisions (beyond the spec).
    public var maxRareActions = 0.25
    public var rareActionShare = 0.05

    public init() {}

    enum CodingKeys: String, CodingKey {
        case minAverageReward = "min_average_reward", maxPolicyLoss = "max_policy_loss", maxValueLoss = "max_value_loss"
        case maxParamLoss = "max_param_loss", minEntropy = "min_entropy", minReports = "min_reports"
        case maxOutOfSupport = "max_out_of_support", maxRareActions = "max_rare_actions", rareActionShare = "rare_action_share"
    }

    public init(from decoder: any Decoder) throws {
        let d = ValidationThresholds()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        minAverageReward = try c.decodeIfPresent(Double.self, forKey: .minAverageReward) ?? d.minAverageReward
        maxPolicyLoss = try c.decodeIfPresent(Double.self, forKey: .maxPolicyLoss) ?? d.maxPolicyLoss
        maxValueLoss = try c.decodeIfPresent(Double.self, forKey: .maxValueLoss) ?? d.maxValueLoss
        maxParamLoss = try c.decodeIfPresent(Double.self, forKey: .maxParamLoss) ?? d.maxParamLoss
        minEntropy = try c.decodeIfPresent(Double.self, forKey: .minEntropy) ?? d.minEntropy
        minReports = try c.decodeIfPresent(Int.self, forKey: .minReports) ?? d.minReports
        maxOutOfSupport = try c.decodeIfPresent(Double.self, forKey: .maxOutOfSupport) ?? d.maxOutOfSupport
        maxRareActions = try c.decodeIfPresent(Double.self, forKey: .maxRareActions) ?? d.maxRareActions
        rareActionShare = try c.decodeIfPresent(Double.self, forKey: .rareActionShare) ?? d.rareActionShare
    }

    func problems() -> [JSONFieldProblem] {
        var p: [JSONFieldProblem] = []
        for (name, value) in [
            ("min_average_reward", minAverageReward), ("max_policy_loss", maxPolicyLoss), ("max_value_loss", maxValueLoss),
            ("max_param_loss", maxParamLoss), ("min_entropy", minEntropy), ("max_out_of_support", maxOutOfSupport),
            ("max_rare_actions", maxRareActions),
        ] where !value.isFinite {
            p.append(JSONFieldProblem(field: name, message: "a finite number"))
        }
        if !(rareActionShare.isFinite && rareActionShare >= 0 && rareActionShare <= 1) {
            p.append(JSONFieldProblem(field: "rare_action_share", message: "in [0, 1]"))
        }
        if !(0...1_000_000).contains(minReports) { p.append(JSONFieldProblem(field: "min_reports", message: "between 0 and 1000000")) }
        return p
    }
}
