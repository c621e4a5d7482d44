/// One seed's state inside a `SystemStatePacket`.
public struct SeedState: LeylineMessage {
    public var seedId: String
    public var stage: SeedLifecycleStage
    public var gradientNorm: Float
    public var learningRate: Float
    public var layerDepth: UInt32
    public var metrics: [String: Float]
    public var ageEpochs: UInt32
    /// 0 (safe) ... 1 (risky).
    public var riskScore: Float

    public init(
        seedId: String = "", stage: SeedLifecycleStage = .unknown, gradientNorm: Float = 0, learningRate: Float = 0,
        layerDepth: UInt32 = 0, metrics: [String: Float] = [:], ageEpochs: UInt32 = 0, riskScore: Float = 0
    ) {
        self.seedId = seedId
        self.stage = stage
        self.gradientNorm = gradientNorm
        self.learningRate = learningRate
        self.layerDepth = layerDepth
        self.metrics = metrics
        self.ageEpochs = ageEpochs
        self.riskScore = riskScore
    }

    public static let fields = LeylineFields(
        SeedState(),
        [
            .field("seed_id", \.seedId, .identifier),
            .field("stage", \.stage),
            .field("gradient_norm", \.gradientNorm, .nonNegative),
            .field("learning_rate", \.learningRate, .nonNegative),
            .field("layer_depth", \.layerDepth),
            .field("metrics", \.metrics),
            .field("age_epochs", \.ageEpochs),
            .field("risk_score", \.riskScore, .finite(in: 0...1)),
        ])
}

extension SeedState {
    /// Checked by its table alone (it has no rule of its own beyond its fields'), so an
    /// element of `seed_states` is checked where it is stored.
    public static func validate(at value: UnsafePointer<SeedState>, _ validator: inout LeylineValidator) {
        fields.validate(at: value, &validator)
    }
}
