public import Leyline

/// One field report turned into what Simic learns from (04-simic §1): its reward, the
/// spec's report feature vector and metric sequence, hashed seed/blueprint indices, and the
/// decisions (policy steps) that led to it, in epoch order.
public struct SimicExperience: Sendable {
    public var reward: Double
    public var lossDelta: Double
    public var outcome: FieldReportOutcome
    public var seedId: String
    public var commandId: String
    public var blueprintId: String
    /// `featureDim` floats (layout of 04-simic §1; metric values by sorted key).
    public var featuresNumeric: [Float]
    /// `metricWindow` floats: the metric values by sorted key, zero-padded.
    public var metricSequence: [Float]
    public var seedIndex: Int
    public var blueprintIndex: Int
    /// Seconds since the Unix epoch (the report's `issued_at`, or the time it was added).
    public var timestamp: Double
    public var report: FieldReport

    /// The decisions to train on (the report's trajectory).
    public var steps: [PolicyStep] { report.trajectory }
}

/// The encoding of a report (deterministic: FNV-1a 64 hashes, metric keys in sorted order).
public struct ExperienceEncoder: Sendable {
    public var featureDim = 32
    public var metricWindow = 16
    public var seedVocab = 1024
    public var blueprintVocab = 1024
    /// Reward cost per 1,000 parameters a fossilised seed added (`params_delta`).
    public var parameterPenalty = 0.0
    public static let maxMetricFeatures = 8

    public init() {}

    /// 04-simic §1: −loss_delta when present and non-zero; else SUCCESS +1, NEUTRAL 0,
    /// REGRESSION −0.5, ABORTED/UNSPECIFIED −1. Minus the parameter penalty.
    public func reward(_ report: FieldReport) -> Double {
        let lossDelta = Double(report.metrics["loss_delta"] ?? 0)
        var reward: Double
        if lossDelta != 0 && lossDelta.isFinite {
            reward = -lossDelta
        } else {
            switch report.outcome {
            case .success: reward = 1
            case .neutral: reward = 0
            case .regression: reward = -0.5
            default: reward = -1
            }
        }
        if let params = report.metrics["params_delta"], params.isFinite { reward -= parameterPenalty * Double(params) / 1000 }
        return reward
    }

    public func experience(_ report: FieldReport, now: Double) -> SimicExperience {
        let reward = reward(report)
        let lossDelta = Double(report.metrics["loss_delta"] ?? 0)
        let metricValues = report.metrics.keys.sorted().map { report.metrics[$0]! }
        var features = [Float](repeating: 0, count: featureDim)
        var next = 0
        func push(_ value: Float) {
            guard next < featureDim else { return }
            features[next] = value.isFinite ? value : 0
            next += 1
        }
        push(Float(lossDelta))
        push(Float(reward))
        push(Float(report.observationWindowEpochs))
        push(report.outcome == .success ? 1 : 0)
        for value in metricValues.prefix(ExperienceEncoder.maxMetricFeatures) { push(value) }
        push(ExperienceEncoder.unitHash(report.seedId))
        push(ExperienceEncoder.unitHash(report.blueprintId))
        var sequence = [Float](repeating: 0, count: metricWindow)
        for (i, value) in metricValues.prefix(metricWindow).enumerated() { sequence[i] = value.isFinite ? value : 0 }
        let issued = Double(report.issuedAt.seconds)
        return SimicExperience(
            reward: reward, lossDelta: lossDelta, outcome: report.outcome, seedId: report.seedId, commandId: report.commandId,
            blueprintId: report.blueprintId, featuresNumeric: features, metricSequence: sequence,
            seedIndex: ExperienceEncoder.index(report.seedId, vocab: seedVocab),
            blueprintIndex: ExperienceEncoder.index(report.blueprintId, vocab: blueprintVocab),
            timestamp: issued > 0 ? issued : now, report: report)
    }

    /// FNV-1a 64 of the UTF-8 bytes (stable across processes, unlike the reference's hash).
    public static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// (hash & 0xFFFFFFFF) / 0xFFFFFFFF ∈ [0, 1]; 0 for "".
    public static func unitHash(_ text: String) -> Float {
        text.isEmpty ? 0 : Float(Double(fnv1a(text) & 0xFFFF_FFFF) / Double(0xFFFF_FFFF))
    }

    /// hash mod vocab; 0 for "".
    public static func index(_ text: String, vocab: Int) -> Int {
        text.isEmpty || vocab <= 0 ? 0 : Int(fnv1a(text) % UInt64(vocab))
    }
}
