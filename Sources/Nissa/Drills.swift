import Foundation
import Leyline

/// What one fault drill did (`POST /api/v1/nissa/drills/{name}`).
public struct DrillResult: Sendable, Codable, Equatable {
    public var name: String
    public var source: String
    public var metric: String
    /// The alert reached `firing` at the breach sample the rule's `for_count` names.
    public var triggered: Bool
    /// The first recovery sample resolved it.
    public var cleared: Bool
    /// The rule's receivers (each got a firing and a resolved notification, label drill="true").
    public var routes: [String]
    /// The alert's value when it fired.
    public var value: Double?
    public var alertId: String?
    /// Breach samples sent before it fired.
    public var firedAfter: Int?
}

/// The fault drills of the spec (§8), one per rule: synthetic telemetry through the same
/// `ingest` the consumer uses — a clearing (or baseline) sample, the breach samples, then the
/// recovery samples. Drill packets have ids `drill-<source>-…`: their alerts are kept apart
/// from production state (per (rule, source, drill)), carry the label drill="true", and their
/// values stay out of Prometheus and the ring buffers; the notifications are real.
public struct DrillPlan: Sendable, Equatable {
    public let rule: String
    public let source: String
    public let breach: [Double]
    public let recovery: [Double]

    /// The spec's four drills; other rules get a plan derived from their threshold.
    static let spec: [String: (source: String, breach: [Double], recovery: [Double])] = [
        "training_latency_high": ("tolaria", [25, 25, 25], [10, 9]),
        "kasmina_isolation_violation": ("kasmina", [5], [0]),
        "oona_queue_depth": ("oona", [5000, 5000], [1000]),
        "tezzeret_compile_retry_high": ("tezzeret", [2], [0]),
    ]

    public static func plan(for rule: AlertRule) -> DrillPlan {
        if let known = spec[rule.name] {
            return DrillPlan(rule: rule.name, source: known.source, breach: known.breach, recovery: known.recovery)
        }
        let margin = max(1, abs(rule.threshold) * 0.25)
        let up = rule.comparator == .greater || rule.comparator == .greaterOrEqual
        let bad = up ? rule.threshold + margin : rule.threshold - margin
        let good = up ? rule.threshold - margin : rule.threshold + margin
        if rule.mode == .increase {
            // Cumulative values rising by `bad` each time from a 0 baseline; a drop to 0 is a
            // reset, which clears.
            return DrillPlan(rule: rule.name, source: "drill", breach: (1...rule.forCount).map { Double($0) * bad }, recovery: [0])
        }
        return DrillPlan(rule: rule.name, source: "drill", breach: Array(repeating: bad, count: rule.forCount), recovery: [good])
    }
}

extension NissaService {
    /// Runs the drill of the rule `name`; nil when no such rule exists. Drills run one at a
    /// time (they share the drill partition of the alert state).
    public func runDrill(_ name: String) -> DrillResult? {
        guard let rule = alerts.rules.rule(named: name) else { return nil }
        let plan = DrillPlan.plan(for: rule)
        return withDrillLock {
            let token = UUID().uuidString.prefix(8).lowercased()
            var sequence = 0
            func send(_ value: Double) -> [AlertTransition] {
                sequence += 1
                let packet = TelemetryPacket.build(
                    packetId: "drill-\(plan.source)-\(token)-\(sequence)", source: plan.source, level: .warning,
                    metrics: [MetricPoint(name: rule.metric, value: value, unit: "")])
                return ingestDrill(packet)
            }
            var result = DrillResult(
                name: name, source: plan.source, metric: rule.metric, triggered: false, cleared: false,
                routes: rule.routes)
            // A clearing sample first: it resets anything an earlier drill left behind and is
            // the baseline of `increase` rules.
            _ = send(plan.recovery.first ?? 0)
            for (index, value) in plan.breach.enumerated() {
                for transition in send(value) where transition.rule.name == name && transition.alert.state == .firing {
                    result.firedAfter = index + 1
                    result.value = transition.alert.value
                    result.alertId = transition.alert.id
                }
            }
            result.triggered = result.firedAfter == rule.forCount
            for (index, value) in plan.recovery.enumerated() {
                for transition in send(value) where transition.rule.name == name && transition.alert.state == .resolved {
                    if index == 0 && transition.alert.id == result.alertId { result.cleared = true }
                }
            }
            return result
        }
    }

    /// Every rule's drill, in the rules' order.
    public func runAllDrills() -> [DrillResult] {
        alerts.rules.rules.compactMap { runDrill($0.name) }
    }
}
