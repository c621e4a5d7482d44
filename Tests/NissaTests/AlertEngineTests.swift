import Foundation
import Leyline
import Logging
import Nissa
import Prometheus
import Testing

/// A Nissa without a bus: the same `ingest` the consumer calls.
func makeNissa(_ configure: (inout NissaOptions) -> Void = { _ in }) -> (NissaService, PrometheusCollectorRegistry) {
    var options = NissaOptions()
    configure(&options)
    let registry = PrometheusCollectorRegistry()
    var logger = Logger(label: "nissa-test")
    logger.logLevel = .critical
    return (NissaService(options: options, registry: registry, bus: nil, logger: logger), registry)
}

/// One telemetry packet with a unique id.
func packet(
    _ source: String, _ metrics: [(String, Double)], attributes: [String: String] = [:], id: String? = nil,
    at time: LeylineTimestamp = .now()
) -> BusMessage {
    .telemetry(
        TelemetryPacket.build(
            packetId: id ?? "p-\(UUID().uuidString.prefix(12))", source: source, level: .info,
            metrics: metrics.map { MetricPoint(name: $0.0, value: $0.1, unit: "", attributes: attributes) },
            timestamp: time))
}

@Suite struct AlertRuleFileTests {
    @Test func builtInRulesEqualTheInfraFile() throws {
        let file = try AlertRuleSet.load(path: packageRoot() + "/infra/nissa/alert_rules.json")
        #expect(file == AlertRuleSet.builtIn)
        #expect(
            file.rules.map(\.name) == [
                "training_latency_high", "kasmina_isolation_violation", "oona_queue_depth", "oona_publish_dropped",
                "tezzeret_compile_retry_high", "nissa_notifications_dead_lettered",
            ])
        let latency = try #require(file.rule(named: "training_latency_high"))
        #expect(latency.metric == "tolaria.epoch_hook.latency_ms")
        #expect(latency.threshold == 18 && latency.forCount == 3 && latency.routes == ["pagerduty", "slack"])
        let isolation = try #require(file.rule(named: "kasmina_isolation_violation"))
        #expect(isolation.mode == .increase && isolation.windowSeconds == 300 && isolation.comparator == .greaterOrEqual)
    }

    @Test func invalidRulesAreRefusedNamingTheField() {
        let text = #"""
            {"rules": [
              {"name": "a", "metric": "m", "comparator": "=>", "threshold": 1, "severity": "critical", "routes": ["slack"]},
              {"name": "b", "metric": "m", "comparator": ">", "threshold": "x", "severity": "loud", "routes": ["sms"], "colour": 1},
              {"name": "c", "metric": "m", "comparator": ">", "threshold": 1, "mode": "increase", "severity": "info", "routes": ["email"]},
              {"name": "a", "metric": "m", "comparator": "<", "threshold": 1, "for_count": 0, "severity": "info", "routes": ["email"]}
            ]}
            """#
        #expect {
            try AlertRuleSet.parse(Array(text.utf8))
        } throws: { error in
            let problems = (error as? AlertRulesError)?.problems ?? []
            return problems.contains("rules[0].comparator: '=>' is not one of >, >=, <, <=")
                && problems.contains("rules[1].threshold: must be a finite number")
                && problems.contains("rules[1].severity: 'loud' is not one of critical, warning, info")
                && problems.contains("rules[1].routes: 'sms' is not one of email, pagerduty, slack")
                && problems.contains("rules[1].colour: unknown field")
                && problems.contains("rules[2].window_s: required when mode is increase")
                && problems.contains("rules[3].for_count: must be an integer in 1...10000")
        }
    }
}

@Suite struct AlertEngineTests {
    /// Each spec rule fires after exactly its consecutive count, not one sample earlier, and
    /// resolves on the first non-breaching sample.
    @Test(arguments: [
        ("training_latency_high", "tolaria", "tolaria.epoch_hook.latency_ms", 19.0, 10.0),
        ("oona_queue_depth", "oona", "oona.queue.depth", 4600.0, 1000.0),
        ("tezzeret_compile_retry_high", "tezzeret", "tezzeret.compile.retry_count", 2.0, 0.0),
    ])
    func valueRuleFiresAtItsCountAndResolves(rule name: String, source: String, metric: String, bad: Double, good: Double) throws {
        let (nissa, _) = makeNissa()
        let rule = try #require(nissa.alerts.rules.rule(named: name))
        for index in 1...rule.forCount {
            nissa.ingest(packet(source, [(metric, bad)]))
            let state = nissa.alerts.list(rule: name, limit: 10).items.first?.state
            #expect(state == (index == rule.forCount ? .firing : .pending), "sample \(index)")
        }
        let firing = try #require(nissa.alerts.list(state: .firing, limit: 10).items.first)
        #expect(firing.rule == name && firing.value == bad && firing.routes == rule.routes && firing.firedAt != nil)
        nissa.ingest(packet(source, [(metric, good)]))
        let resolved = try #require(nissa.alerts.alert(id: firing.id))
        #expect(resolved.state == .resolved && resolved.resolvedAt != nil && resolved.value == good)
        #expect(nissa.alerts.firing().isEmpty)
    }

    @Test func equalityNeverFiresAStrictRule() {
        let (nissa, _) = makeNissa()
        for _ in 0..<5 { nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 1.0)])) }
        #expect(nissa.alerts.history().isEmpty)
    }

    /// Our semantics (docs/nissa.md): a packet without the metric leaves the count alone —
    /// the reference reset it, so an unrelated packet in between cleared the alert.
    @Test func aPacketWithoutTheMetricLeavesTheCountAlone() {
        let (nissa, _) = makeNissa()
        nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 25)]))
        nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 25)]))
        nissa.ingest(packet("tolaria", [("tolaria.training.loss", 0.5)]))  // same source, no hook latency
        nissa.ingest(packet("tamiyo", [("tamiyo.validation_loss", 0.4)]))  // another source
        #expect(nissa.alerts.list(limit: 10).items.first?.consecutive == 2)
        nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 25)]))
        #expect(nissa.alerts.firing().map(\.rule) == ["training_latency_high"])
        // …and leaves a firing alert firing.
        nissa.ingest(packet("tolaria", [("tolaria.training.loss", 0.4)]))
        #expect(nissa.alerts.firing().count == 1)
    }

    @Test func stateIsPerSource() {
        let (nissa, _) = makeNissa {
            $0.rules = AlertRuleSet(rules: [
                AlertRule(
                    name: "depth", metric: "q", comparator: .greater,
                    threshold: 10, forCount: 2, severity: .warning,
                    routes: ["slack"], summary: "")
            ])
        }
        nissa.ingest(packet("a", [("q", 11)]))
        nissa.ingest(packet("b", [("q", 11)]))
        #expect(nissa.alerts.firing().isEmpty)
        nissa.ingest(packet("a", [("q", 12)]))
        #expect(nissa.alerts.firing().map(\.source) == ["a"])
        nissa.ingest(packet("b", [("q", 5)]))  // b's pending alert is discarded, a keeps firing
        #expect(nissa.alerts.firing().map(\.source) == ["a"])
        #expect(nissa.alerts.list(limit: 10).items.count == 1)
    }

    @Test func severalValuesInOnePacketAreJudgedByTheWorst() {
        let (nissa, _) = makeNissa()
        let metrics = [
            MetricPoint(name: "oona.queue.depth", value: 5000, attributes: ["stream": "normal"]),
            MetricPoint(name: "oona.queue.depth", value: 3, attributes: ["stream": "policy"]),
        ]
        for n in 0..<2 {
            nissa.ingest(.telemetry(TelemetryPacket.build(packetId: "depth-\(n)", source: "oona", level: .info, metrics: metrics)))
        }
        #expect(nissa.alerts.firing().first?.value == 5000)
    }

    @Test func isolationRuleUsesTheIncreaseOverItsWindow() {
        let (nissa, _) = makeNissa()
        let start = LeylineTimestamp.now().millisecondsSinceEpoch
        func at(_ seconds: Int64) -> LeylineTimestamp { LeylineTimestamp(nanosecondsSinceEpoch: (start + seconds * 1000) * 1_000_000) }
        let metric = "kasmina.isolation.violations"
        nissa.ingest(packet("kasmina", [(metric, 10)], at: at(0)))  // first sample: baseline only
        nissa.ingest(packet("kasmina", [(metric, 12)], at: at(60)))  // +2
        #expect(nissa.alerts.history().isEmpty)
        nissa.ingest(packet("kasmina", [(metric, 13)], at: at(120)))  // +3 in 5 min: fires (>= 3, where > 3 never did)
        #expect(nissa.alerts.firing().first?.value == 3)
        // The cumulative counter stays at 13: once the window has moved past the increase it
        // resolves (the reference kept breaching forever).
        nissa.ingest(packet("kasmina", [(metric, 13)], at: at(500)))
        #expect(nissa.alerts.firing().isEmpty)
        #expect(nissa.alerts.history().first?.state == .resolved)
    }

    @Test func historyIsBoundedAndPaginated() {
        let (nissa, _) = makeNissa { $0.alertHistory = 5 }
        for n in 0..<8 {
            nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 5)], id: "r-\(n)-a"))
            nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 0)], id: "r-\(n)-b"))
        }
        #expect(nissa.alerts.history().count == 5)
        let first = nissa.alerts.list(limit: 2)
        #expect(first.items.count == 2 && first.next != nil)
        let second = nissa.alerts.list(limit: 2, after: first.next)
        #expect(second.items.count == 2 && second.items[0].sequence < first.items[1].sequence)
        let last = nissa.alerts.list(limit: 2, after: second.next)
        #expect(last.items.count == 1 && last.next == nil)
    }

    @Test func acknowledgementRecordsWhoAndWhen() throws {
        let (nissa, _) = makeNissa()
        nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 5)]))
        let alert = try #require(nissa.alerts.firing().first)
        guard case .acknowledged(let acked) = nissa.alerts.acknowledge(id: alert.id, by: "alice") else { Issue.record("not acked"); return }
        #expect(acked.acknowledgedBy == "alice" && acked.acknowledgedAt != nil)
        guard case .conflict = nissa.alerts.acknowledge(id: alert.id, by: "bob") else { Issue.record("no conflict"); return }
        guard case .notFound = nissa.alerts.acknowledge(id: "alert-999-0", by: "bob") else { Issue.record("found"); return }
    }

    @Test func drillsTriggerAndClearWithoutTouchingProductionState() throws {
        let (nissa, _) = makeNissa()
        nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 30)]))  // production: 1 of 3
        let results = nissa.runAllDrills(hold: 0)
        #expect(
            results.map(\.name) == [
                "training_latency_high", "kasmina_isolation_violation", "oona_queue_depth", "oona_publish_dropped",
                "tezzeret_compile_retry_high", "nissa_notifications_dead_lettered",
            ])
        for result in results {
            #expect(result.triggered && result.cleared && result.state == .cleared, "\(result.name)")
        }
        #expect(results.map(\.value) == [25, 5, 5000, 3, 2, 1])
        #expect(results[0].routes == ["pagerduty", "slack"] && results[2].routes == ["slack"])
        let production = nissa.alerts.list(limit: 50).items.filter { !$0.drill }
        #expect(production.count == 1 && production[0].state == .pending && production[0].consecutive == 1)
    }
}

/// The package root (tests run from it; fall back to walking up from this file).
func packageRoot() -> String {
    var url = URL(fileURLWithPath: #filePath)
    while url.path != "/" {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/Package.swift") { return url.path }
    }
    return FileManager.default.currentDirectoryPath
}
