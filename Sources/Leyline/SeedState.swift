/// One seed's state inside a `SystemStatePacket`.
public struct SeedState: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey {
        case seedId = "seed_id", stage, gradientNorm = "gradient_norm", learningRate = "learning_rate"
        case layerDepth = "layer_depth", metrics, ageEpochs = "age_epochs", riskScore = "risk_score"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seedId = try c.field(.seedId, or: "")
        stage = try c.field(.stage, or: .unknown)
        gradientNorm = try c.field(.gradientNorm, or: 0)
        learningRate = try c.field(.learningRate, or: 0)
        layerDepth = try c.field(.layerDepth, or: 0)
        metrics = try c.field(.metrics, or: [:])
        ageEpochs = try c.field(.ageEpochs, or: 0)
        riskScore = try c.field(.riskScore, or: 0)
    }

    public func validate(_ v: inout LeylineValidator) {
        v.identifier("seed_id", seedId)
        v.finite("gradient_norm", gradientNorm, in: 0...Double(Float.greatestFiniteMagnitude))
        v.finite("learning_rate", learningRate, in: 0...Double(Float.greatestFiniteMagnitude))
        v.metrics("metrics", metrics)
        v.finite("risk_score", riskScore, in: 0...1)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension SeedState: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "age_epochs", "gradient_norm", "layer_depth", "learning_rate", "metrics", "risk_score", "seed_id", "stage",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("age_epochs"); w.unsigned(ageEpochs)
        w.key("gradient_norm"); w.float(gradientNorm)
        w.key("layer_depth"); w.unsigned(layerDepth)
        w.key("learning_rate"); w.float(learningRate)
        w.key("metrics"); w.floatMap(metrics)
        w.key("risk_score"); w.float(riskScore)
        w.key("seed_id"); w.string(seedId)
        w.key("stage"); w.value(stage)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(SeedState.jsonFields, &cursor) {
            switch field {
            case 0: ageEpochs = try r.uint32()
            case 1: gradientNorm = try r.float()
            case 2: layerDepth = try r.uint32()
            case 3: learningRate = try r.float()
            case 4: metrics = try r.floatMap()
            case 5: riskScore = try r.float()
            case 6: seedId = try r.string()
            case 7: stage = try r.value(SeedLifecycleStage.self)
            default: break
            }
        }
    }
}
