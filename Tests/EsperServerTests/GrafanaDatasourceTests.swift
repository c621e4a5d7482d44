import EsperServer
import EsperTestSupport
import Foundation
import Leyline
import Nissa
import Testing

/// The Grafana datasource as the simpod plugin really talks to it (src/DataSource.ts of
/// 0.6.x): variables interpolated in regex format, the metric dropdown, ad-hoc filters Grafana
/// offers, the older SimpleJSON routes. The plugin's own request fixtures are replayed in
/// clients/python/tests/test_grafana_plugin.py.
@Suite(.serialized) struct GrafanaDatasourceTests {
    static func seeded() throws -> ServerHarness {
        let server = try ServerHarness()
        let nissa = server.application.nissa
        for (run, loss) in [("run-1.a", 0.5), ("run-2.b", 0.7), ("run-3", 0.9)] {
            nissa.ingest(
                .telemetry(
                    NissaServerTests.telemetry(
                        "tolaria", [("tolaria.training.loss", loss), ("tolaria.validation.loss", loss + 0.1)],
                        attributes: ["run": run, "subsystem": "tolaria"])))
        }
        nissa.ingest(.telemetry(NissaServerTests.telemetry("kasmina", [("kasmina.seeds.active", 2)], attributes: ["seed": "s1"])))
        return server
    }

    static func range() -> String {
        let now = LeylineTimestamp.now()
        return
            #"{"from":"\#(LeylineTimestamp(seconds: now.seconds - 3600).rfc3339)","to":"\#(LeylineTimestamp(seconds: now.seconds + 60).rfc3339)"}"#
    }

    /// `/query` → the `target` names of the answer (series and tables), and the raw answer.
    static func query(_ server: ServerHarness, _ targets: String, extra: String = "") throws -> (Int, [[String: Any]]) {
        let (status, body) = try NissaServerTests.post(server, "/grafana/query", #"{"range":\#(range()),"targets":\#(targets)\#(extra)}"#)
        return (status, body as? [[String: Any]] ?? [])
    }

    static func runs(_ answer: [[String: Any]]) -> [String] {
        answer.compactMap { ($0["tags"] as? [String: String])?["run"] }.sorted()
    }

    @Test func targetsAndPayloadsMatchRegexInterpolatedVariables() throws {
        let server = try Self.seeded()
        // `$metric` single value: dots escaped.
        var (status, answer) = try Self.query(server, #"[{"target":"tolaria\\.training\\.loss","refId":"A","payload":{}}]"#)
        #expect(status == 200 && Self.runs(answer) == ["run-1.a", "run-2.b", "run-3"])
        #expect(
            answer.allSatisfy { $0["refId"] as? String == "A" && ($0["target"] as? String)?.hasPrefix("tolaria.training.loss{") == true })
        // `$run` multi-value in a builder payload: `(a|b)` with `.` and `-` escaped.
        (status, answer) = try Self.query(
            server, #"[{"target":"tolaria.training.loss","refId":"A","payload":{"run":"(run\\-1\\.a|run\\-3)"}}]"#)
        #expect(status == 200 && Self.runs(answer) == ["run-1.a", "run-3"])
        // An array payload value (multi-select), each item interpolated.
        (status, answer) = try Self.query(server, #"[{"target":"tolaria.training.loss","payload":{"run":["run\\-2\\.b"]}}]"#)
        #expect(Self.runs(answer) == ["run-2.b"])
        // "All" as `.*`, also for a metric variable: both loss metrics; tables are not metrics.
        (status, answer) = try Self.query(server, #"[{"target":"tolaria\\..*","refId":"B","payload":{"run":".*"}}]"#)
        #expect(status == 200 && answer.count == 6 && answer.allSatisfy { $0["type"] == nil })
        // A literal value still matches only itself (the dot is no wildcard there: run-1xa is absent).
        (status, answer) = try Self.query(server, #"[{"target":"tolaria.training.loss","payload":"{\"run\":\"run-1.a\"}"}]"#)
        #expect(Self.runs(answer) == ["run-1.a"])
        // Escaped table names and refIds on tables.
        (status, answer) = try Self.query(server, #"[{"target":"nissa\\.slo","refId":"T"}]"#)
        #expect(status == 200 && answer.first?["type"] as? String == "table" && answer.first?["refId"] as? String == "T")
        // Series carry their labels.
        (_, answer) = try Self.query(server, #"[{"target":"kasmina.seeds.active","refId":"K"}]"#)
        #expect(answer.first?["tags"] as? [String: String] == ["seed": "s1", "subsystem": "kasmina"])
    }

    @Test func oneUnusablePartNeverFailsTheOtherPanels() throws {
        let server = try Self.seeded()
        // Unknown payload keys and a query without a metric yet: ignored.
        let (status, answer) = try Self.query(
            server,
            #"[{"target":"tolaria.training.loss","refId":"A","payload":{"run":"run\\-3","region":"eu","limit":5}},{"refId":"B","payload":{}},{"target":"","refId":"C"}]"#
        )
        #expect(status == 200 && Self.runs(answer) == ["run-3"])
        // Every ad-hoc operator Grafana offers; filters on keys Esper does not have are ignored.
        let target = #"[{"target":"tolaria.training.loss","refId":"A"}]"#
        func adhoc(_ filters: String, key: String = "filters") throws -> [String] {
            let (status, answer) = try Self.query(server, target, extra: #","\#(key)":\#(filters)"#)
            #expect(status == 200, "\(filters)")
            return Self.runs(answer)
        }
        #expect(try adhoc(#"[{"key":"run","operator":"=~","value":"run-[12].*"}]"#) == ["run-1.a", "run-2.b"])
        #expect(try adhoc(#"[{"key":"run","operator":"!~","value":"run-[12].*"}]"#) == ["run-3"])
        #expect(try adhoc(#"[{"key":"run","operator":"<","value":"run-2"}]"#) == ["run-1.a"])
        #expect(try adhoc(#"[{"key":"run","operator":">","value":"run-2"}]"#) == ["run-2.b", "run-3"])
        #expect(try adhoc(#"[{"key":"run","operator":"!=","value":"run-3"}]"#) == ["run-1.a", "run-2.b"])
        #expect(try adhoc(#"[{"key":"run","operator":"=|","value":"","values":["run-3","run-1.a"]}]"#) == ["run-1.a", "run-3"])
        #expect(try adhoc(#"[{"key":"colour","operator":"=","value":"red"},{"key":"run","operator":"~~","value":"x"}]"#).count == 3)
        // Plugin versions before 0.6 sent them as adhocFilters.
        #expect(try adhoc(#"[{"key":"run","operator":"=","value":"run-3"}]"#, key: "adhocFilters") == ["run-3"])
        // What cannot be answered is still a 422 naming the field.
        let (badStatus, bad) = try NissaServerTests.post(
            server, "/grafana/query", #"{"range":\#(Self.range()),"targets":[{"target":"tolaria.training.loss","payload":7}]}"#)
        #expect(badStatus == 422)
        // Grafana shows `message` in the panel: the problem carries the detail there too.
        let problem = bad as? [String: Any] ?? [:]
        #expect(
            (problem["message"] as? String)?.contains("targets[0].payload") == true
                && problem["message"] as? String == problem["detail"] as? String)
        #expect((try NissaServerTests.post(server, "/grafana/metrics", "[1").1 as? [String: Any])?["message"] is String)
        #expect(try NissaServerTests.post(server, "/grafana/query", #"{"range":\#(Self.range()),"targets":[],"filters":[3]}"#).0 == 422)
    }

    @Test func theMetricDropdownIsNeverFilteredByTheSelectedMetric() throws {
        let server = try Self.seeded()
        let (status, body) = try NissaServerTests.post(
            server, "/grafana/metrics", #"{"metric":"tolaria.training.loss","payload":{"run":"run-3"}}"#)
        let values = (body as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
        #expect(status == 200)
        // The server's own bus reports (oona.*, from its first queue-depth sample) are listed too.
        #expect(values.contains("oona.queue.depth"))
        #expect(
            values.filter { !$0.hasPrefix("oona.") } == [
                "kasmina.seeds.active", "tolaria.training.loss", "tolaria.validation.loss", "nissa.alerts", "nissa.events", "nissa.slo",
            ])
        // Payload options for a regex-interpolated metric.
        let (_, options) = try NissaServerTests.post(
            server, "/grafana/metric-payload-options", #"{"metric":"tolaria\\.training\\.loss","payload":{},"name":"run"}"#)
        #expect((options as? [[String: String]])?.map { $0["value"] ?? "" } == ["run-1.a", "run-2.b", "run-3"])
    }

    @Test func simpleJSONSearchAndAnnotations() throws {
        let server = try Self.seeded()
        _ = server.application.nissa.runDrill("tezzeret_compile_retry_high")
        var (status, body) = try NissaServerTests.post(server, "/grafana/search", #"{"type":"timeseries","target":"runs"}"#)
        #expect(status == 200 && body as? [String] == server.application.nissa.runIds())
        (status, body) = try NissaServerTests.post(server, "/grafana/search", #"{"target":""}"#)
        #expect((body as? [String])?.contains("tolaria.validation.loss") == true && (body as? [String])?.contains("nissa.alerts") == true)
        (status, body) = try NissaServerTests.post(server, "/grafana/search", #"{"target":"tolaria\\..*"}"#)
        #expect(body as? [String] == ["tolaria.training.loss", "tolaria.validation.loss"])
        #expect(try NissaServerTests.post(server, "/grafana/search", #"{"target":5}"#).0 == 422)

        let annotation = #"{"name":"Alerts","datasource":"Esper","enable":true,"iconColor":"red","query":"nissa.alerts"}"#
        (status, body) = try NissaServerTests.post(
            server, "/grafana/annotations",
            #"{"range":\#(Self.range()),"rangeRaw":{"from":"now-1h","to":"now"},"annotation":\#(annotation),"variables":{}}"#)
        let items = body as? [[String: Any]] ?? []
        #expect(status == 200 && !items.isEmpty)
        #expect(items.allSatisfy { ($0["annotation"] as? [String: Any])?["name"] as? String == "Alerts" && $0["time"] is Int })
        #expect(
            items.contains {
                ($0["title"] as? String)?.hasPrefix("tezzeret_compile_retry_high") == true
                    && ($0["tags"] as? [String])?.contains("drill") == true
            })
        (status, body) = try NissaServerTests.post(
            server, "/grafana/annotations", #"{"range":\#(Self.range()),"annotation":{"query":"nissa.events"}}"#)
        #expect(status == 200 && !(body as? [[String: Any]] ?? []).isEmpty)
        #expect(
            try NissaServerTests.post(server, "/grafana/annotations", #"{"range":\#(Self.range()),"annotation":{"query":"weather"}}"#).0
                == 422)
        #expect(try NissaServerTests.post(server, "/grafana/annotations", #"{"annotation":{}}"#).0 == 422)
    }

    /// Alertmanager retries 5xx and network errors only: a 4xx will fail the same way again.
    @Test func aReceiverThatRejectsTheRequestIsNotRetried() throws {
        let slack = try WebhookReceiver(statuses: [400, 400, 400, 400])
        defer { slack.stop() }
        let server = try ServerHarness(environment: [
            "NISSA_SLACK_WEBHOOK_URL": slack.url + "/slack", "NISSA_WEBHOOK_BACKOFF_MS": "10", "NISSA_WEBHOOK_MAX_ATTEMPTS": "3",
            "NISSA_WEBHOOK_PARKED_RETRY_S": "0.05",
        ])
        let nissa = server.application.nissa
        _ = nissa.runDrill("training_latency_high")
        #expect(
            eventually(within: 20) { nissa.notifier.deliveries().filter { $0.receiver == "slack" }.allSatisfy { $0.status == .rejected } })
        let slackDeliveries = nissa.notifier.deliveries().filter { $0.receiver == "slack" }
        #expect(slackDeliveries.count == 2)  // firing and resolved
        #expect(slackDeliveries.allSatisfy { $0.attempts == 1 && $0.lastHttpStatus == 400 && $0.nextAttemptAt == nil })
        Thread.sleep(forTimeInterval: 0.5)
        #expect(slack.requests.count == 2)
        let (_, log) = try server.statusJSON("/api/v1/nissa/deliveries")
        #expect((log["items"] as? [[String: Any]])?.contains { $0["status"] as? String == "rejected" } == true)
    }
}
