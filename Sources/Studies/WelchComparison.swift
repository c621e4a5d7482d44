// An arm against a control: difference of means with a 95 % Welch confidence interval and its verdict.
import Foundation

/// Whether an arm beat a control on a metric, judged by the 95 % Welch interval of the
/// difference of means (arm − control): wholly on the good side → better, wholly on the bad
/// side → worse, straddling 0 (or not computable) → not_distinguishable.
public enum Verdict: String, Sendable, Codable, Equatable {
    case better, worse
    case notDistinguishable = "not_distinguishable"
}

public struct WelchComparison: Sendable, Codable, Equatable {
    public var metric: String
    public var higherIsBetter: Bool
    public var armN: Int
    public var controlN: Int
    /// mean(arm) − mean(control), when both sides have runs.
    public var difference: Double?
    public var confidenceLevel: Double
    public var ciLow: Double?
    public var ciHigh: Double?
    /// Welch–Satterthwaite degrees of freedom.
    public var degreesOfFreedom: Double?
    public var verdict: Verdict
    /// Why the verdict is what it is when no interval decided it (n < 2, zero variance).
    public var reason: String?

    /// Compares `arm` against `control` (the values of one metric, one per run).
    public init(metric: String, arm: [Double], control: [Double], higherIsBetter: Bool, confidenceLevel: Double = 0.95) {
        self.metric = metric
        self.higherIsBetter = higherIsBetter
        self.confidenceLevel = confidenceLevel
        armN = arm.count
        controlN = control.count
        verdict = .notDistinguishable
        let a = SampleStatistics(arm), c = SampleStatistics(control)
        if let meanA = a.mean, let meanC = c.mean { difference = meanA - meanC }
        guard arm.count >= 2, control.count >= 2, let va = a.variance, let vc = c.variance, let difference else {
            reason = "needs at least 2 finished runs on each side (arm \(arm.count), control \(control.count))"
            return
        }
        let sa = va / Double(arm.count), sc = vc / Double(control.count)
        let standardError = (sa + sc).squareRoot()
        guard standardError > 0 else {
            // Every run of both sides gave the same value: no spread to build an interval from.
            ciLow = difference
            ciHigh = difference
            if difference == 0 {
                reason = "every run of both sides has the same value"
            } else {
                reason = "no spread on either side: the difference is exact"
                verdict = (difference > 0) == higherIsBetter ? .better : .worse
            }
            return
        }
        let df = (sa + sc) * (sa + sc) / (sa * sa / Double(arm.count - 1) + sc * sc / Double(control.count - 1))
        degreesOfFreedom = df
        let t = StudentT.quantile(1 - (1 - confidenceLevel) / 2, degreesOfFreedom: df)
        let low = difference - t * standardError, high = difference + t * standardError
        ciLow = low
        ciHigh = high
        if low > 0 {
            verdict = higherIsBetter ? .better : .worse
        } else if high < 0 {
            verdict = higherIsBetter ? .worse : .better
        } else {
            reason = "the interval contains 0"
        }
    }
}
