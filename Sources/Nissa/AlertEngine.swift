import Foundation
public import Leyline
public import Prometheus
import Synchronization

/// Evaluates the rules on every ingested telemetry packet and keeps the alerts.
///
/// Semantics (differences from the reference are deliberate, see docs/nissa.md):
/// - state is kept per (rule, source): a Tamiyo packet between two Tolaria packets does not
///   touch Tolaria's count;
/// - only a packet that carries the rule's metric updates that state: a packet without it
///   leaves the count alone (the reference reset it, so unrelated packets cleared alerts);
/// - a carrying packet that breaches adds one to the count; at `for_count` (and after
///   `for_duration_s`, when set) the alert fires, once; a carrying packet that does not
///   breach resets the count and resolves a firing alert (a resolve notification is sent);
/// - several values of the metric in one packet (one per stream, say) are judged by the
///   worst one in the comparator's direction;
/// - `increase` rules judge `latest − baseline`, the baseline being the newest sample at
///   least a window old (else the oldest one in the window); a decrease is a counter reset
///   and counts from 0; a source's first sample only sets the baseline.
public final class AlertEngine: Sendable {
    struct StateKey: Hashable {
        let rule: String
        let source: String
        let drill: Bool
    }

    struct RuleState {
        var consecutive = 0
        var breachStart: Int64?
        var alert: Int64?
        /// `increase` rules: (time ms, value), ascending.
        var samples: [(time: Int64, value: Double)] = []
    }

    struct State {
        var rules: [StateKey: RuleState] = [:]
        var records: [Int64: AlertRecord] = [:]
        /// Sequences in ascending order (oldest first).
        var order: [Int64] = []
        var byId: [String: Int64] = [:]
        var nextSequence: Int64 = 1
        /// Changed since the last save to the state store; removed ids likewise.
        var dirty = Set<Int64>()
        var removed: [String] = []
    }

    public enum AcknowledgeResult: Sendable {
        case acknowledged(AlertRecord)
        case notFound
        case conflict(AlertRecord)
    }

    public let rules: AlertRuleSet
    private let capacity: Int
    private let state = Mutex(State())
    private let activeGauges: [AlertSeverity: Gauge]
    private let registry: PrometheusCollectorRegistry
    private let store = Mutex<NissaStateStore?>(nil)
    static let maxIncreaseSamples = 10_000

    public init(rules: AlertRuleSet, capacity: Int, registry: PrometheusCollectorRegistry) {
        self.rules = rules
        self.capacity = max(1, capacity)
        self.registry = registry
        var gauges: [AlertSeverity: Gauge] = [:]
        for severity in AlertSeverity.allCases {
            gauges[severity] = registry.gauge(
                "esper_alerts_active", labels: [("severity", severity.rawValue)],
                help: "Alerts firing now (drills excluded), by severity.")
        }
        activeGauges = gauges
    }

    /// One packet's metrics (name → every value it carries) from `source`, at `time` (ms
    /// since the epoch). Returns the alerts that started firing or resolved.
    public func evaluate(_ values: [String: [Double]], source: String, at time: Int64, drill: Bool = false) -> [AlertTransition] {
        let now = LeylineTimestamp(nanosecondsSinceEpoch: time * 1_000_000)
        let transitions = state.withLock { state -> [AlertTransition] in
            var transitions: [AlertTransition] = []
            for rule in rules.rules {
                guard let carried = values[rule.metric], let worst = rule.comparator.worst(carried) else { continue }
                let key = StateKey(rule: rule.name, source: source, drill: drill)
                var ruleState = state.rules[key] ?? RuleState()
                var observed = worst
                if rule.mode == .increase {
                    let window = Int64((rule.windowSeconds ?? 300) * 1000)
                    while ruleState.samples.count > 1 && ruleState.samples[1].time <= time - window { ruleState.samples.removeFirst() }
                    guard let baseline = ruleState.samples.first?.value else {
                        ruleState.samples.append((time, worst))
                        state.rules[key] = ruleState
                        continue
                    }
                    observed = worst >= baseline ? worst - baseline : worst
                    ruleState.samples.append((time, worst))
                    if ruleState.samples.count > AlertEngine.maxIncreaseSamples { ruleState.samples.removeFirst() }
                }
                if rule.comparator.breaches(observed, rule.threshold) {
                    ruleState.consecutive += 1
                    if ruleState.breachStart == nil { ruleState.breachStart = time }
                    let sequence: Int64
                    if let existing = ruleState.alert, state.records[existing] != nil {
                        sequence = existing
                    } else {
                        sequence = state.nextSequence
                        state.nextSequence += 1
                        let id = "alert-\(sequence)-" + UUID().uuidString.prefix(8).lowercased()
                        state.records[sequence] = AlertRecord(
                            id: id, rule: rule, source: source, value: observed, drill: drill,
                            at: now, sequence: sequence)
                        state.order.append(sequence)
                        state.byId[id] = sequence
                        ruleState.alert = sequence
                    }
                    var record = state.records[sequence]!
                    record.value = observed
                    record.consecutive = ruleState.consecutive
                    record.updatedAt = now
                    let lasted = Double(time - (ruleState.breachStart ?? time)) / 1000
                    if record.state == .pending && ruleState.consecutive >= rule.forCount
                        && lasted >= (rule.forDurationSeconds ?? 0)
                    {
                        record.state = .firing
                        record.firedAt = now
                        transitions.append(AlertTransition(alert: record, rule: rule))
                    }
                    state.records[sequence] = record
                    state.dirty.insert(sequence)
                } else {
                    if let sequence = ruleState.alert, var record = state.records[sequence] {
                        if record.state == .firing {
                            record.state = .resolved
                            record.resolvedAt = now
                            record.updatedAt = now
                            record.value = observed
                            state.records[sequence] = record
                            state.dirty.insert(sequence)
                            transitions.append(AlertTransition(alert: record, rule: rule))
                        } else if record.state == .pending {
                            AlertEngine.remove(sequence, from: &state)
                        }
                    }
                    ruleState.consecutive = 0
                    ruleState.breachStart = nil
                    ruleState.alert = nil
                }
                state.rules[key] = ruleState
            }
            evict(&state)
            save(&state)
            return transitions
        }
        if !transitions.isEmpty { updateGauges() }
        for transition in transitions {
            registry.counter(
                "esper_nissa_alert_transitions_total",
                labels: [("rule", transition.rule.name), ("state", transition.alert.state.rawValue)],
                help: "Alerts that started firing or resolved, by rule."
            ).increment()
        }
        return transitions
    }

    private static func remove(_ sequence: Int64, from state: inout State) {
        guard let record = state.records.removeValue(forKey: sequence) else { return }
        state.byId[record.id] = nil
        state.dirty.remove(sequence)
        state.removed.append(record.id)
        if let index = state.order.firstIndex(of: sequence) { state.order.remove(at: index) }
    }

    /// Keeps at most `capacity` records: resolved ones go first (oldest first), active ones
    /// only when nothing else is left to evict.
    private func evict(_ state: inout State) {
        guard state.records.count > capacity else { return }
        var excess = state.records.count - capacity
        for sequence in state.order where excess > 0 {
            if state.records[sequence]?.isActive == false {
                AlertEngine.remove(sequence, from: &state)
                excess -= 1
            }
        }
        while excess > 0, let oldest = state.order.first {
            AlertEngine.remove(oldest, from: &state)
            excess -= 1
        }
    }

    // MARK: durability

    /// Writes the changed records through to the state store, inside the state lock so two
    /// evaluations can never save their versions of one alert out of order.
    private func save(_ state: inout State) {
        guard let store = store.withLock({ $0 }) else {
            state.dirty.removeAll()
            state.removed.removeAll()
            return
        }
        let changed = state.dirty.sorted().compactMap { state.records[$0] }
        store.saveAlerts(changed, removed: state.removed)
        state.dirty.removeAll()
        state.removed.removeAll()
    }

    /// Loads the alerts saved by an earlier run (before the first packet) and saves every
    /// later change. An active alert takes up its rule state again, so the next breaching or
    /// clearing sample continues it (a restart neither duplicates nor orphans it).
    public func restore(from store: NissaStateStore) {
        let records = store.loadAlerts()
        state.withLock { state in
            for record in records where state.records[record.sequence] == nil {
                state.records[record.sequence] = record
                state.order.append(record.sequence)
                state.byId[record.id] = record.sequence
                state.nextSequence = max(state.nextSequence, record.sequence + 1)
                guard record.isActive else { continue }
                let key = StateKey(rule: record.rule, source: record.source, drill: record.drill)
                var ruleState = state.rules[key] ?? RuleState()
                ruleState.alert = record.sequence
                ruleState.consecutive = record.consecutive
                ruleState.breachStart = record.startedAt.millisecondsSinceEpoch
                state.rules[key] = ruleState
            }
            state.order.sort()
            evict(&state)
        }
        self.store.withLock { $0 = store }
        updateGauges()
    }

    private func updateGauges() {
        let counts = state.withLock { state -> [AlertSeverity: Int] in
            var counts: [AlertSeverity: Int] = [:]
            for record in state.records.values where record.state == .firing && !record.drill { counts[record.severity, default: 0] += 1 }
            return counts
        }
        for (severity, gauge) in activeGauges { gauge.set(Double(counts[severity] ?? 0)) }
    }

    // MARK: reading and acknowledging

    public func alert(id: String) -> AlertRecord? {
        state.withLock { state in state.byId[id].flatMap { state.records[$0] } }
    }

    /// Newest first; `cursor` is the sequence of the last item of the previous page.
    public func list(
        state wanted: AlertState? = nil, severity: AlertSeverity? = nil, rule: String? = nil,
        limit: Int, after cursor: Int64? = nil
    ) -> (items: [AlertRecord], next: Int64?) {
        state.withLock { state in
            var items: [AlertRecord] = []
            for sequence in state.order.reversed() {
                if let cursor, sequence >= cursor { continue }
                guard let record = state.records[sequence] else { continue }
                if let wanted, record.state != wanted { continue }
                if let severity, record.severity != severity { continue }
                if let rule, record.rule != rule { continue }
                if items.count == limit { return (items, items.last?.sequence) }
                items.append(record)
            }
            return (items, nil)
        }
    }

    /// Firing alerts (drills included), oldest first.
    public func firing() -> [AlertRecord] {
        state.withLock { state in state.order.compactMap { state.records[$0] }.filter { $0.state == .firing } }
    }

    /// Every alert in the history with a time in [from, to] (ms), oldest first.
    public func history() -> [AlertRecord] {
        state.withLock { state in state.order.compactMap { state.records[$0] } }
    }

    /// Records who acknowledged and when. Acknowledging again by the same person is a no-op;
    /// by someone else, a conflict (the first acknowledgement stands).
    public func acknowledge(id: String, by who: String, at time: LeylineTimestamp = .now()) -> AcknowledgeResult {
        state.withLock { state in
            guard let sequence = state.byId[id], var record = state.records[sequence] else { return .notFound }
            if let existing = record.acknowledgedBy {
                return existing == who ? .acknowledged(record) : .conflict(record)
            }
            record.acknowledgedBy = who
            record.acknowledgedAt = time
            state.records[sequence] = record
            state.dirty.insert(sequence)
            save(&state)
            return .acknowledged(record)
        }
    }
}
