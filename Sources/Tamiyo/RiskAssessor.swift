import Foundation

/// The risk level of a run (03-tamiyo §9): what the risk engine lets through at each.
///
/// | level | effect on the policy's command |
/// |---|---|
/// | green | none |
/// | yellow | mitigate: a germination must be a SAFE-tier blueprint |
/// | orange | fallback: no germination, no advance past GRAFTING (culls, pauses, waits pass) |
/// | red | block: as orange, and every live seed is paused |
/// | critical | emergency: every live seed is paused and the service enters conservative mode |
public enum RiskLevel: Int, Sendable, Codable, Comparable, CaseIterable {
    case green = 0, yellow, orange, red, critical

    public static func < (a: RiskLevel, b: RiskLevel) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .green: "GREEN"
        case .yellow: "YELLOW"
        case .orange: "ORANGE"
        case .red: "RED"
        case .critical: "CRITICAL"
        }
    }

    /// The combined score at which this level begins.
    var floor: Double { RiskLevel.floors[rawValue] }
    static let floors = [0, 0.15, 0.35, 0.55, 0.75]

    static func raw(for combined: Double) -> RiskLevel {
        RiskLevel.allCases.last { combined >= $0.floor } ?? .green
    }
}

/// One measured signal of the risk engine, with the spec's threshold shape: risk 0 below the
/// threshold, (x − threshold)/(emergency − threshold) between, 1 above the emergency value.
public enum RiskDimension: String, Sendable, Codable, CaseIterable {
    /// Validation loss above the best so far (loss − best, in loss units).
    case lossTrend = "loss_trend"
    /// The live seeds' mean gradient norm over the epoch (largest seed).
    case gradientHealth = "gradient_health"
    /// Isolation violations Kasmina counted since the previous boundary.
    case isolation
    /// The boundary's decision latency: policy inference + Kasmina handshake, ms.
    case latency
    /// The blended seeds' drift, 1 − mean cos(h, y) (largest seed).
    case drift
    /// Seeds (live and fossilised) per allowed slot.
    case seedCount = "seed_count"
    /// Seed parameters relative to the host's.
    case parameterGrowth = "parameter_growth"
    /// The process's resident memory ÷ the memory it may use (`MemoryProbe`).
    case memory = "memory_utilisation"

    /// (base threshold, emergency threshold, weight, adaptive factor). Weights sum to 1.
    /// Memory has the spec's calibration (0.80, 0.95, 0.25, ×0.9 — a stable run tightens it);
    /// its 0.25 comes from the dimensions the spec does not list: isolation breaches are
    /// culled and quarantined by Kasmina at once, and seed count and parameter growth are
    /// capped outright by `max_germinations` and `parameter_budget`.
    var calibration: (threshold: Double, emergency: Double, weight: Double, adaptive: Double) {
        switch self {
        case .lossTrend: (0.10, 0.50, 0.25, 1.3)
        case .gradientHealth: (5.0, 20.0, 0.20, 1.2)
        case .isolation: (0.5, 3.0, 0.06, 1.0)
        case .latency: (100, 500, 0.04, 1.1)
        case .drift: (0.12, 0.50, 0.15, 1.2)
        case .seedCount: (1.0, 3.0, 0.025, 1.0)
        case .parameterGrowth: (0.5, 2.0, 0.025, 1.1)
        case .memory: (0.80, 0.95, 0.25, 0.9)
        }
    }
}

/// What one boundary measured, one value per dimension (non-finite values count as the
/// emergency value: a NaN gradient norm is the worst gradient health there is).
public struct RiskSignals: Sendable {
    public var values: [RiskDimension: Double]
    /// Validation accuracy change since the previous boundary (the stability score's term).
    public var accuracyDelta: Double

    public init(_ values: [RiskDimension: Double], accuracyDelta: Double = 0) {
        self.values = values
        self.accuracyDelta = accuracyDelta
    }
}

/// The assessment of one boundary, as the policy endpoint, telemetry and field reports show it.
public struct RiskReport: Sendable, Codable, Equatable {
    public struct Dimension: Sendable, Codable, Equatable {
        public var name: String
        public var value: Double
        public var threshold: Double
        public var emergencyThreshold: Double
        public var weight: Double
        /// 0...1 from the threshold shape.
        public var risk: Double
    }

    public var epoch: Int
    public var level: RiskLevel
    public var levelName: String
    /// The level the score alone would give (before hysteresis).
    public var rawLevel: RiskLevel
    public var score: Double
    /// The dimension contributing most to the score (what a changed decision names).
    public var leadingDimension: String?
    public var dimensions: [Dimension]
    /// Consecutive boundaries the raw level has been above (or below) the held level.
    public var pendingEscalation: Int
    public var pendingRecovery: Int
    /// Why the level changed at this boundary, if it did.
    public var transition: String?
}

/// The risk engine's state for one run (03-tamiyo §9): weighted dimensions → score → level,
/// with hysteresis (a level is entered only after the score has called for it at
/// `escalationWindows` consecutive boundaries — at once for CRITICAL — and left one step at a
/// time after `recoveryWindows` boundaries below its floor minus `recoveryMargin`), adaptive
/// thresholds, the per-epoch pause quota, and the α bands with their hysteresis.
public struct RiskAssessor: Sendable {
    public var escalationWindows: Int
    public var recoveryWindows: Int
    public var recoveryMargin = 0.05
    /// Epochs between threshold adaptations (spec: 10).
    public var adaptationInterval = 10
    /// Pauses the engine may request per epoch (Leyline `MAX_PAUSE_QUOTA`); the quota resets
    /// at every boundary.
    public var pauseQuota: Int

    public private(set) var level = RiskLevel.green
    public private(set) var thresholds: [RiskDimension: Double]
    public private(set) var last: RiskReport?
    private var above = 0
    private var below = 0
    private var pausesThisEpoch = 0
    private var sinceAdaptation = 0
    private var lossHistory: [Double] = []
    /// Each seed's α band (0: α < 0.3, 1: between, 2: α > 0.7), moved only past ±0.02.
    private var alphaBands: [String: Int] = [:]

    public static let alphaEdges: [Float] = [0.3, 0.7]
    public static let alphaHysteresis: Float = 0.02
    public static let maxPauseQuota = 10_000

    public init(escalationWindows: Int = 3, recoveryWindows: Int = 3, pauseQuota: Int = RiskAssessor.maxPauseQuota) {
        self.escalationWindows = max(1, escalationWindows)
        self.recoveryWindows = max(1, recoveryWindows)
        self.pauseQuota = max(0, pauseQuota)
        thresholds = Dictionary(uniqueKeysWithValues: RiskDimension.allCases.map { ($0, $0.calibration.threshold) })
    }

    /// Per-dimension risk with the current (adapted) threshold.
    func risk(_ dimension: RiskDimension, _ value: Double) -> Double {
        let threshold = thresholds[dimension] ?? dimension.calibration.threshold
        let emergency = max(dimension.calibration.emergency, threshold * 1.000_001)
        guard value.isFinite else { return 1 }
        if value <= threshold { return 0 }
        return min(1, (value - threshold) / (emergency - threshold))
    }

    /// One boundary: scores the signals, moves the level with hysteresis, adapts thresholds
    /// every `adaptationInterval` epochs, and resets the pause quota.
    public mutating func assess(_ signals: RiskSignals, epoch: Int, validationLoss: Double) -> RiskReport {
        pausesThisEpoch = 0
        var dimensions: [RiskReport.Dimension] = []
        var score = 0.0
        var leading: (String, Double)?
        for dimension in RiskDimension.allCases {
            let value = signals.values[dimension] ?? 0
            let r = risk(dimension, value)
            let weight = dimension.calibration.weight
            score += weight * r
            if r > 0, weight * r > (leading?.1 ?? 0) { leading = (dimension.rawValue, weight * r) }
            dimensions.append(
                .init(
                    name: dimension.rawValue, value: value.isFinite ? value : Double.greatestFiniteMagnitude,
                    threshold: thresholds[dimension] ?? dimension.calibration.threshold,
                    emergencyThreshold: dimension.calibration.emergency, weight: weight, risk: r))
        }
        // Emergency (spec): three or more dimensions above 0.8 is CRITICAL whatever the weights.
        var raw = RiskLevel.raw(for: score)
        if dimensions.count(where: { $0.risk > 0.8 }) >= 3 { raw = .critical }
        var transition: String?
        if raw > level {
            below = 0
            above += 1
            if raw == .critical || above >= escalationWindows {
                transition = "\(level.name) → \(raw.name): score \(String(format: "%.3f", score)) for \(above) boundaries"
                level = raw
                above = 0
            }
        } else if raw < level && score < level.floor - recoveryMargin {
            above = 0
            below += 1
            if below >= recoveryWindows {
                let next = RiskLevel(rawValue: level.rawValue - 1) ?? .green
                transition =
                    "\(level.name) → \(next.name): score \(String(format: "%.3f", score)) below \(String(format: "%.2f", level.floor - recoveryMargin)) for \(below) boundaries"
                level = next
                below = 0
            }
        } else {
            above = 0
            below = 0
        }
        lossHistory.append(validationLoss)
        if lossHistory.count > 100 { lossHistory.removeFirst(lossHistory.count - 100) }
        sinceAdaptation += 1
        if sinceAdaptation >= adaptationInterval {
            sinceAdaptation = 0
            adapt(signals)
        }
        let report = RiskReport(
            epoch: epoch, level: level, levelName: level.name, rawLevel: raw, score: score, leadingDimension: leading?.0,
            dimensions: dimensions, pendingEscalation: above, pendingRecovery: below, transition: transition)
        last = report
        return report
    }

    /// Adaptive thresholds (03 §9): a stability score from the loss variance, the gradient
    /// norm and the accuracy gain; stable runs loosen the thresholds by the dimension's
    /// factor (half the step when fairly stable), unstable ones tighten them by 5 %; each
    /// stays within [0.5×, 2×] its base and changes only by more than 1 %.
    private mutating func adapt(_ signals: RiskSignals) {
        let window = lossHistory.suffix(adaptationInterval)
        let mean = window.reduce(0, +) / Double(max(1, window.count))
        let variance = window.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, window.count))
        let gradient = signals.values[.gradientHealth].flatMap { $0.isFinite ? $0 : nil } ?? 1e9
        let stability = 0.5 * (1 - min(variance, 1)) + 0.3 / (1 + gradient / 10) + 0.2 * min(max(10 * signals.accuracyDelta, 0), 1)
        for dimension in RiskDimension.allCases {
            let base = dimension.calibration.threshold
            let current = thresholds[dimension] ?? base
            let factor: Double =
                stability > 0.8 ? dimension.calibration.adaptive : stability > 0.6 ? 1 + (dimension.calibration.adaptive - 1) / 2 : 0.95
            let next = min(max(current * factor, 0.5 * base), 2 * base)
            if abs(next - current) > 0.01 * current { thresholds[dimension] = next }
        }
    }

    /// Takes one pause from this epoch's quota (false: exhausted, the pause is not issued).
    public mutating func takePause() -> Bool {
        guard pausesThisEpoch < pauseQuota else { return false }
        pausesThisEpoch += 1
        return true
    }

    /// The seed's α band after this α: it moves up past an edge only beyond edge + 0.02 and
    /// down only below edge − 0.02, so an α hovering at 0.3 or 0.7 does not flap.
    public mutating func alphaBand(seed: String, alpha: Float) -> Int {
        var band = alphaBands[seed] ?? 0
        while band < RiskAssessor.alphaEdges.count && alpha > RiskAssessor.alphaEdges[band] + RiskAssessor.alphaHysteresis {
            band += 1
        }
        while band > 0 && alpha < RiskAssessor.alphaEdges[band - 1] - RiskAssessor.alphaHysteresis { band -= 1 }
        alphaBands[seed] = band
        return band
    }
}
