import Foundation

/// The validation harness (04-simic §5): checks in order, one reason each,
/// `"<metric> <value 4dp> below|above min|max <threshold 4dp>"`; plus non-finite weights and
/// too few reports (nothing to vouch for). A policy that fails is never published.
public struct ValidationResult: Sendable, Equatable, Codable {
    public var passed: Bool
    public var reasons: [String]
    public var metrics: PolicyEvaluation
}

public enum PolicyValidator {
    public static func validate(
        _ m: PolicyEvaluation, thresholds t: ValidationThresholds, trainingReports: Int, weightsFinite: Bool = true
    ) -> ValidationResult {
        var reasons: [String] = []
        func f(_ v: Double) -> String { String(format: "%.4f", v) }
        if m.averageReward < t.minAverageReward {
            reasons.append("average_reward \(f(m.averageReward)) below min \(f(t.minAverageReward))")
        }
        if m.policyLoss > t.maxPolicyLoss { reasons.append("policy_loss \(f(m.policyLoss)) above max \(f(t.maxPolicyLoss))") }
        if m.valueLoss > t.maxValueLoss { reasons.append("value_loss \(f(m.valueLoss)) above max \(f(t.maxValueLoss))") }
        if m.paramLoss > t.maxParamLoss { reasons.append("param_loss \(f(m.paramLoss)) above max \(f(t.maxParamLoss))") }
        if m.policyEntropy < t.minEntropy { reasons.append("policy_entropy \(f(m.policyEntropy)) below min \(f(t.minEntropy))") }
        if m.outOfSupport > t.maxOutOfSupport {
            reasons.append("out_of_support \(f(m.outOfSupport)) above max \(f(t.maxOutOfSupport))")
        }
        if m.rareActions > t.maxRareActions {
            reasons.append("rare_actions \(f(m.rareActions)) above max \(f(t.maxRareActions))")
        }
        if trainingReports < t.minReports { reasons.append("training_reports \(trainingReports) below min \(t.minReports)") }
        for (name, value) in [
            ("average_reward", m.averageReward), ("policy_loss", m.policyLoss), ("value_loss", m.valueLoss),
            ("policy_entropy", m.policyEntropy),
        ] where !value.isFinite {
            reasons.append("\(name) is not finite")
        }
        if !weightsFinite { reasons.append("weights hold NaN or Inf") }
        return ValidationResult(passed: reasons.isEmpty, reasons: reasons, metrics: m)
    }
}
