import Foundation
import Leyline
import Synchronization

/// What one fault drill did (`POST /api/v1/nissa/drills/{name}`).
public struct DrillResult: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        /// The alert fires and is held until `resolves_at`.
        case holding
        /// The recovery sample resolved it.
        case cleared
        /// It did not fire, or did not resolve.
        case failed
    }

    public var name: String
    public var source: String
    public var metric: String
    /// The alert reached `firing` at the breach sample the rule's `for_count` names.
    public var triggered: Bool
    /// The recovery sample resolved it (false while the drill holds the alert firing).
    public var cleared: Bool
    public var state: State
    /// How long the alert is held firing before the recovery sample (seconds).
    public var holdS: Double
    /// RFC 3339: when the hold ends (nil without a hold).
    public var resolvesAt: String?
    /// The rule's receivers (each gets a firing and a resolved notification, label drill="true").
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

    /// The spec's four drills (and the drop alert's); other rules get a plan derived from their threshold.
    static let spec: [String: (source: String, breach: [Double], recovery: [Double])] = [
        "training_latency_high": ("tolaria", [25, 25, 25], [10, 9]),
        "kasmina_isolation_violation": ("kasmina", [5], [0]),
        "oona_queue_depth": ("oona", [5000, 5000], [1000]),
        "oona_publish_dropped": ("oona", [3], [0]),
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

/// Drills that hold their alert, and the latest result of each rule's drill.
public final class DrillBook: Sendable {
    private let results = Mutex<[String: DrillResult]>([:])

    public init() {}

    /// Every rule's latest drill, by rule name.
    public var latest: [String: DrillResult] { results.withLock { $0 } }

    func record(_ result: DrillResult) { results.withLock { $0[result.name] = result } }

    /// Claims the rule for a new drill; false while one of its drills holds.
    func begin(_ name: String) -> Bool {
        results.withLock { results in
            if results[name]?.state == .holding { return false }
            return true
        }
    }
}

public enum DrillOutcome: Sendable {
    case ran(DrillResult)
    case noSuchRule
    /// A drill of this rule holds its alert until then.
    case holding(DrillResult)
}

extension NissaService {
    /// Runs the drill of the rule `name`: a clearing sample, the breach samples (the alert
    /// fires and is notified, label drill="true"), then — after `hold` seconds (default
    /// `drillHoldSeconds`, at least one Alertmanager resend so that Alertmanager lists it) —
    /// the recovery sample that resolves it. With a hold the answer comes at once (`state`
    /// `holding`, `resolves_at`) and the recovery runs on its own thread; `drillBook` has the
    /// final result. One drill per rule at a time.
    public func startDrill(_ name: String, hold: Double? = nil) -> DrillOutcome {
        guard let rule = alerts.rules.rule(named: name) else { return .noSuchRule }
        let hold = max(0, hold ?? options.drillHoldSeconds)
        let plan = DrillPlan.plan(for: rule)
        return withDrillLock {
            guard drillBook.begin(name) else { return .holding(drillBook.latest[name]!) }
            let token = UUID().uuidString.prefix(8).lowercased()
            let sequence = Mutex(0)
            let send: @Sendable (Double) -> [AlertTransition] = { [self] value in
                let number = sequence.withLock { count -> Int in
                    count += 1
                    return count
                }
                let packet = TelemetryPacket.build(
                    packetId: "drill-\(plan.source)-\(token)-\(number)", source: plan.source, level: .warning,
                    metrics: [MetricPoint(name: rule.metric, value: value, unit: "")])
                return ingestDrill(packet)
            }
            var result = DrillResult(
                name: name, source: plan.source, metric: rule.metric, triggered: false, cleared: false, state: .failed,
                holdS: hold, resolvesAt: nil, routes: rule.routes)
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
            let recover: @Sendable (DrillResult) -> DrillResult = { started in
                var result = started
                for (index, value) in plan.recovery.enumerated() {
                    for transition in send(value) where transition.rule.name == name && transition.alert.state == .resolved {
                        if index == 0 && transition.alert.id == result.alertId { result.cleared = true }
                    }
                }
                result.state = result.triggered && result.cleared ? .cleared : .failed
                return result
            }
            guard hold > 0, result.triggered else {
                result = recover(result)
                drillBook.record(result)
                return .ran(result)
            }
            result.state = .holding
            result.resolvesAt = LeylineTimestamp(date: Date().addingTimeInterval(hold)).rfc3339
            drillBook.record(result)
            let holding = result
            let thread = Thread { [self] in
                Thread.sleep(forTimeInterval: hold)
                withDrillLock { drillBook.record(recover(holding)) }
            }
            thread.name = "nissa-drill-\(name)"
            thread.start()
            return .ran(result)
        }
    }

    /// Runs the drill of the rule `name` without a hold (fires and resolves at once); nil
    /// when no such rule exists.
    public func runDrill(_ name: String) -> DrillResult? {
        switch startDrill(name, hold: 0) {
        case .ran(let result), .holding(let result): result
        case .noSuchRule: nil
        }
    }

    /// Every rule's drill, in the rules' order (each holds `hold` seconds, concurrently).
    public func runAllDrills(hold: Double? = nil) -> [DrillResult] {
        alerts.rules.rules.compactMap { rule in
            switch startDrill(rule.name, hold: hold) {
            case .ran(let result), .holding(let result): result
            case .noSuchRule: nil
            }
        }
    }
}
