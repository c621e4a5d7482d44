import EsperServer
import EsperTestSupport
import Foundation
import Leyline
import Nissa
import Oona
import Testing

/// Nissa inside the real server: Oona → ingest → /metrics, /grafana, alerts over HTTP,
/// webhook delivery to receivers on loopback, drills, promtool and a real Prometheus.
@Suite(.serialized) struct NissaServerTests {
    static func telemetry(
        _ source: String, _ metrics: [(String, Double)], attributes: [String: String] = [:],
        id: String = "t-\(UUID().uuidString.prefix(12))"
    ) -> TelemetryPacket {
        TelemetryPacket.build(
            packetId: id, source: source, level: .info,
            metrics: metrics.map { MetricPoint(name: $0.0, value: $0.1, unit: "", attributes: attributes) })
    }

    static func post(_ server: ServerHarness, _ path: String, _ json: String) throws -> (Int, Any) {
        let response = try server.request("POST", path, json: json)
        return (response.status, try JSONSerialization.jsonObject(with: Data(response.body), options: [.fragmentsAllowed]))
    }

    @Test func ingestFromOonaReachesMetricsAndGrafana() throws {
        let server = try ServerHarness()
        let bus = server.application.bus
        try bus.publishTelemetry(
            Self.telemetry(
                "tolaria", [("tolaria.training.loss", 0.5), ("tolaria.epoch_hook.latency_ms", 4)],
                attributes: ["run": "r1"], id: "loss-1"))
        // The emergency stream too (the reference never read it).
        try bus.publish(
            .telemetry(Self.telemetry("tolaria", [("tolaria.training.loss", 0.25)], attributes: ["run": "r2"], id: "loss-2")),
            options: PublishOptions(emergency: true))
        try bus.publishState(
            SystemStatePacket(
                currentEpoch: 1, seedStates: [SeedState(seedId: "seed-a", stage: .training)],
                packetId: "state-1", sourceSubsystem: "tolaria", trainingRunId: "r1"))
        try bus.publishFieldReport(FieldReport(reportId: "report-1", outcome: .regression))
        // A redelivered packet (same id) is not counted twice.
        try bus.publishTelemetry(Self.telemetry("tolaria", [("tolaria.training.loss", 0.5)], attributes: ["run": "r1"], id: "loss-1"))

        let expected = [
            #"esper_tolaria_training_loss{run="r1",subsystem="tolaria"} 0.5"#,
            #"esper_tolaria_training_loss{run="r2",subsystem="tolaria"} 0.25"#,
            #"esper_tolaria_epoch_hook_latency_seconds{run="r1",subsystem="tolaria"} 0.004"#,
            #"esper_system_state_packets_total{phase="tolaria"} 1"#,
            #"esper_field_reports_total{outcome="regression"} 1"#,
            "esper_nissa_duplicates_total 1",
        ]
        #expect(
            try eventually(within: 20) {
                let text = try server.get("/metrics").text
                return expected.allSatisfy(text.contains)
            })
        let metrics = try server.get("/metrics")
        #expect(metrics.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(metrics.text.contains(#"esper_telemetry_packets_total{source="tolaria"} 2"#))

        let now = LeylineTimestamp.now()
        let from = LeylineTimestamp(seconds: now.seconds - 600).rfc3339
        let to = LeylineTimestamp(seconds: now.seconds + 60).rfc3339
        let (status, body) = try Self.post(
            server, "/grafana/query",
            #"""
            {"range":{"from":"\#(from)","to":"\#(to)","raw":{"from":"now-10m","to":"now"}},"interval":"1s","intervalMs":1000,
             "maxDataPoints":100,"targets":[{"target":"tolaria.training.loss","refId":"A","payload":{"run":"r1"}}],"scopedVars":{},"filters":[]}
            """#)
        #expect(status == 200)
        let series = try #require(body as? [[String: Any]])
        #expect(series.count == 1)
        #expect(series.first?["target"] as? String == #"tolaria.training.loss{run="r1",subsystem="tolaria"}"#)
        let points = try #require(series.first?["datapoints"] as? [[Double]])
        #expect(points.count == 1 && points[0][0] == 0.5)
        #expect(abs(points[0][1] - Double(now.millisecondsSinceEpoch)) < 120_000, "milliseconds since the epoch")

        let health = try server.statusJSON("/healthz")
        let checks = try #require(health.1["checks"] as? [String: Any])
        #expect((checks["nissa"] as? [String: Any])?["status"] as? String == "ok")
    }

    /// End to end: a real training run publishes per epoch through Oona; Nissa's consumer
    /// turns it into labelled gauges, a Grafana series and a run variable.
    @Test func aTrainingRunShowsUpInNissa() throws {
        let server = try ServerHarness()
        let id = try server.submit(quickRun)
        #expect(try server.waitFor(id, status: "succeeded"))
        #expect(
            try eventually(within: 20) {
                let text = try server.get("/metrics").text
                return text.contains("esper_tolaria_training_loss{run=\"\(id)\",subsystem=\"tolaria\"}")
                    && text.contains("esper_system_state_packets_total{phase=\"tolaria\"}")
            })
        let (_, runs) = try Self.post(server, "/grafana/variable", #"{"payload":{"target":"runs"}}"#)
        #expect((runs as? [[String: String]])?.contains(["__text": id, "__value": id]) == true)
        #expect(
            eventually(within: 20) { nissaSeries(server.application.nissa, "tolaria.training.loss", run: id) == 2 }, "one point per epoch")
    }

    /// With `NISSA_FINISHED_RUN_RETENTION_S=0` a real run's series leave `/metrics` and the
    /// Grafana variables once its `succeeded` status reaches Nissa over Oona; a live run's and
    /// the fleet's series stay.
    @Test func aFinishedRunsSeriesExpire() throws {
        let server = try ServerHarness(environment: ["NISSA_FINISHED_RUN_RETENTION_S": "0"])
        let nissa = server.application.nissa
        nissa.ingest(.telemetry(Self.telemetry("tolaria", [("tolaria.training.loss", 0.5)], attributes: ["run": "still-running"])))
        nissa.ingest(.telemetry(Self.telemetry("tezzeret", [("tezzeret.compile.retry_count", 9)])))
        let id = try server.submit(quickRun)
        #expect(try server.waitFor(id, status: "succeeded"))
        #expect(eventually(within: 20) { nissa.store.hasExpired(id) })
        let text = try server.get("/metrics").text
        #expect(!text.contains("run=\"\(id)\""))
        #expect(text.contains(#"esper_tolaria_training_loss{run="still-running",subsystem="tolaria"} 0.5"#))
        #expect(text.contains("esper_nissa_runs_expired_total 1"))
        #expect(text.contains(#"esper_tezzeret_compile_retry_count{subsystem="tezzeret"} 9"#))
        let (_, runs) = try Self.post(server, "/grafana/variable", #"{"payload":{"target":"runs"}}"#)
        let values = (runs as? [[String: String]])?.compactMap { $0["__value"] } ?? []
        #expect(values.contains("still-running") && !values.contains(id))
        let (_, search) = try Self.post(server, "/grafana/search", #"{"target":"runs"}"#)
        #expect((search as? [String]) == ["still-running"])
        #expect(nissaSeries(nissa, "tolaria.training.loss", run: id) == 0)
    }

    func nissaSeries(_ nissa: NissaService, _ name: String, run: String) -> Int {
        nissa.store.query(name: name, filters: ["run": run], from: 0, to: Int64.max / 2, maxPoints: 1000).first?.points.count ?? 0
    }

    @Test func metricsPassPromtool() throws {
        let server = try ServerHarness()
        let nissa = server.application.nissa
        nissa.ingest(
            .telemetry(
                Self.telemetry(
                    "tolaria", [("tolaria.training.loss", 0.5), ("tolaria.epoch_hook.latency_ms", 25)],
                    attributes: ["run": "r\"1\\x", "seed": "s\n1"])))
        nissa.ingest(.telemetry(Self.telemetry("oona", [("oona.queue.depth", 12)], attributes: ["stream": "normal"])))
        nissa.ingest(.telemetry(Self.telemetry("tolaria", [("slo.latency_objective", 10), ("slo.latency_actual", 12)])))
        nissa.ingest(.fieldReport(FieldReport(reportId: "r-1", outcome: .success)))
        _ = server.application.nissa.runDrill("tezzeret_compile_retry_high")
        let text = try server.get("/metrics").text
        #expect(text.hasSuffix("\n"))
        let promtool = try #require(
            Tools.find("promtool"),
            "promtool is missing: install the Debian package 'prometheus' (scripts/bootstrap.sh does)")
        let result = try Tools.run(promtool, ["check", "metrics"], stdin: Array(text.utf8))
        #expect(result.status == 0, "promtool check metrics: \(result.output)")
    }

    @Test func alertsListFilterAcknowledgeAndSummary() throws {
        let server = try ServerHarness()
        let nissa = server.application.nissa
        nissa.ingest(.telemetry(Self.telemetry("tezzeret", [("tezzeret.compile.retry_count", 4)])))
        nissa.ingest(.telemetry(Self.telemetry("oona", [("oona.queue.depth", 5000)])))  // pending: 1 of 2

        let (status, page) = try server.statusJSON("/api/v1/nissa/alerts?state=firing")
        #expect(status == 200)
        let items = try #require(page["items"] as? [[String: Any]])
        #expect(items.count == 1 && page["next_cursor"] is NSNull)
        let alert = items[0]
        #expect(alert["rule"] as? String == "tezzeret_compile_retry_high" && alert["severity"] as? String == "info")
        #expect(alert["fired_at"] is String && alert["resolved_at"] is NSNull && alert["acknowledged_by"] is NSNull)
        let id = try #require(alert["id"] as? String)
        #expect(try server.statusJSON("/api/v1/nissa/alerts?state=pending").1["items"].map { ($0 as? [Any])?.count } == 1)
        #expect(try server.statusJSON("/api/v1/nissa/alerts?severity=critical").1["items"].map { ($0 as? [Any])?.count } == 0)
        // Two alerts to page through. On a loaded machine the server's own queue-depth sample
        // (every second) can clear the pending one first: it is raised again until both list.
        var firstPage = try server.statusJSON("/api/v1/nissa/alerts?limit=1")
        #expect(
            try eventually(within: 30) {
                nissa.ingest(.telemetry(Self.telemetry("oona", [("oona.queue.depth", 5000)])))
                firstPage = try server.statusJSON("/api/v1/nissa/alerts?limit=1")
                return firstPage.1["next_cursor"] is String
            })
        let cursor = try #require(firstPage.1["next_cursor"] as? String)
        let secondPage = try server.statusJSON("/api/v1/nissa/alerts?limit=1&cursor=\(cursor)")
        #expect(
            (secondPage.1["items"] as? [[String: Any]])?.first?["id"] as? String != (firstPage.1["items"] as? [[String: Any]])?.first?["id"]
                as? String)

        let bad = try server.statusJSON("/api/v1/nissa/alerts?state=burning&limit=0")
        #expect(bad.0 == 400)
        let fields = (bad.1["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
        #expect(fields == ["state", "limit"])

        let summary = try server.statusJSON("/metrics/summary")
        #expect(summary.0 == 200)
        let active = try #require((summary.1["alerts"] as? [String: Any])?["tezzeret_compile_retry_high"] as? [String: Any])
        #expect(active["metric"] as? String == "tezzeret.compile.retry_count" && active["value"] as? Double == 4)
        #expect(active["routes"] as? [String] == ["email"])
        #expect(summary.1["slo"] is [String: Any])

        let (acked, ackBody) = try Self.post(server, "/api/v1/nissa/alerts/\(id)/ack", #"{"by":"alice"}"#)
        #expect(acked == 200)
        #expect((ackBody as? [String: Any])?["acknowledged_by"] as? String == "alice")
        #expect((ackBody as? [String: Any])?["acknowledged_at"] is String)
        #expect(try server.request("POST", "/api/v1/nissa/alerts/\(id)/ack", json: #"{"by":"alice"}"#).status == 200)
        #expect(try server.request("POST", "/api/v1/nissa/alerts/\(id)/ack", json: #"{"by":"bob"}"#).status == 409)
        #expect(try server.request("POST", "/api/v1/nissa/alerts/\(id)/ack", json: #"{}"#).status == 422)
        #expect(try server.request("POST", "/api/v1/nissa/alerts/\(id)/ack", json: #"{"by":"   "}"#).status == 422)
        #expect(try server.request("POST", "/api/v1/nissa/alerts/alert-999-abc/ack", json: #"{"by":"a"}"#).status == 404)
        #expect(try server.request("POST", "/api/v1/nissa/alerts/Not_An_Id/ack", json: #"{"by":"a"}"#).status == 400)
        #expect(try server.get("/api/v1/nissa/alerts/\(id)").status == 200)
        let rules = try server.statusJSON("/api/v1/nissa/rules")
        #expect((rules.1["items"] as? [[String: Any]])?.count == 6)
    }

    @Test func webhooksRetryUntilDeliveredAndForwardToAlertmanager() throws {
        let email = try WebhookReceiver(statuses: [500, 503])
        let pagerduty = try WebhookReceiver(statuses: Array(repeating: 500, count: 1000))
        let alertmanager = try WebhookReceiver()
        defer {
            email.stop()
            pagerduty.stop()
            alertmanager.stop()
        }
        let server = try ServerHarness(environment: [
            "NISSA_EMAIL_WEBHOOK_URL": email.url + "/hooks/email?token=secret",
            "NISSA_PAGERDUTY_WEBHOOK_URL": pagerduty.url + "/pd",
            "NISSA_ALERTMANAGER_URL": alertmanager.url + "/",
            "NISSA_EXTERNAL_URL": "http://esper.example:8080",
            "NISSA_WEBHOOK_BACKOFF_MS": "10", "NISSA_WEBHOOK_MAX_ATTEMPTS": "3", "NISSA_WEBHOOK_PARKED_RETRY_S": "0.05",
        ])
        let nissa = server.application.nissa
        nissa.ingest(.telemetry(Self.telemetry("tezzeret", [("tezzeret.compile.retry_count", 3)])))
        // Fails twice, then succeeds: three requests, one delivery, attempts 3.
        #expect(eventually(within: 20) { email.requests.count >= 3 })
        #expect(eventually(within: 20) { nissa.notifier.deliveries().contains { $0.receiver == "email" && $0.status == .delivered } })
        let delivered = try #require(nissa.notifier.deliveries().first { $0.receiver == "email" })
        #expect(delivered.attempts == 3 && delivered.lastError == nil && delivered.target == email.url)
        #expect(email.requests.allSatisfy { $0.method == "POST" && $0.path == "/hooks/email?token=secret" })

        let payload = try email.requests[2].json()
        #expect(
            Set(payload.keys) == [
                "version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels",
                "commonAnnotations", "externalURL", "alerts",
            ])
        #expect(
            payload["version"] as? String == "4" && payload["status"] as? String == "firing" && payload["receiver"] as? String == "email")
        #expect(payload["truncatedAlerts"] as? Int == 0 && payload["externalURL"] as? String == "http://esper.example:8080")
        #expect(payload["groupKey"] as? String == #"{}:{alertname="tezzeret_compile_retry_high", source="tezzeret"}"#)
        #expect((payload["groupLabels"] as? [String: String]) == ["alertname": "tezzeret_compile_retry_high", "source": "tezzeret"])
        let alerts = try #require(payload["alerts"] as? [[String: Any]])
        #expect(alerts.count == 1)
        let alert = alerts[0]
        #expect(Set(alert.keys) == ["status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"])
        let labels = try #require(alert["labels"] as? [String: String])
        #expect(
            labels == [
                "alertname": "tezzeret_compile_retry_high", "severity": "info", "source": "tezzeret",
                "metric": "tezzeret.compile.retry_count",
            ])
        #expect(payload["commonLabels"] as? [String: String] == labels)
        #expect(alert["endsAt"] as? String == "0001-01-01T00:00:00Z")
        #expect((alert["startsAt"] as? String).map { (try? LeylineTimestamp(rfc3339: $0)) != nil } == true)
        #expect((alert["fingerprint"] as? String)?.count == 16)
        #expect((alert["generatorURL"] as? String)?.hasPrefix("http://esper.example:8080/") == true)
        #expect((alert["annotations"] as? [String: String])?["summary"] != nil)

        // Resolve: a resolved notification with an end time.
        nissa.ingest(.telemetry(Self.telemetry("tezzeret", [("tezzeret.compile.retry_count", 0)])))
        #expect(eventually(within: 20) { email.requests.count >= 4 })
        let resolved = try email.requests[3].json()
        #expect(resolved["status"] as? String == "resolved")
        let resolvedAlert = try #require((resolved["alerts"] as? [[String: Any]])?.first)
        #expect(resolvedAlert["endsAt"] as? String != "0001-01-01T00:00:00Z")

        // The Alertmanager got both, as /api/v2/alerts arrays.
        #expect(eventually(within: 20) { alertmanager.requests.count >= 2 })
        #expect(alertmanager.requests.allSatisfy { $0.path == "/api/v2/alerts" })
        let forwarded = try #require(try JSONSerialization.jsonObject(with: Data(alertmanager.requests[0].body)) as? [[String: Any]])
        #expect((forwarded.first?["labels"] as? [String: String])?["alertname"] == "tezzeret_compile_retry_high")
        #expect(forwarded.first?["endsAt"] == nil && forwarded.first?["startsAt"] is String)

        // A receiver that never succeeds: parked as undeliverable, kept and still retried.
        nissa.ingest(.telemetry(Self.telemetry("kasmina", [("kasmina.isolation.violations", 0)])))
        nissa.ingest(.telemetry(Self.telemetry("kasmina", [("kasmina.isolation.violations", 7)])))
        #expect(
            eventually(within: 20) {
                nissa.notifier.deliveries().contains { $0.receiver == "pagerduty" && $0.status == .undeliverable }
            })
        let parkedAttempts = pagerduty.requests.count
        #expect(eventually(within: 20) { pagerduty.requests.count > parkedAttempts + 1 })
        let parked = try #require(nissa.notifier.deliveries().first { $0.receiver == "pagerduty" })
        #expect(parked.status == .undeliverable && parked.lastHttpStatus == 500 && parked.lastError?.contains("HTTP 500") == true)
        let (status, log) = try server.statusJSON("/api/v1/nissa/deliveries")
        #expect(status == 200)
        let entries = try #require(log["items"] as? [[String: Any]])
        #expect(entries.contains { $0["receiver"] as? String == "pagerduty" && $0["status"] as? String == "undeliverable" })
        #expect(!String(decoding: try server.get("/api/v1/nissa/deliveries").body, as: UTF8.self).contains("secret"))
    }

    @Test func drillsFireAndClearThroughTheRealPath() throws {
        let server = try ServerHarness()
        let (status, body) = try Self.post(server, "/api/v1/nissa/drills/training_latency_high?hold_s=0", "")
        #expect(status == 200)
        let result = try #require(body as? [String: Any])
        #expect(result["triggered"] as? Bool == true && result["cleared"] as? Bool == true)
        #expect(result["routes"] as? [String] == ["pagerduty", "slack"] && result["value"] as? Double == 25)
        let (allStatus, all) = try Self.post(server, "/api/v1/nissa/drills?hold_s=0", "")
        #expect(allStatus == 200)
        let items = try #require((all as? [String: Any])?["items"] as? [[String: Any]])
        #expect(
            items.map { $0["name"] as? String ?? "" } == [
                "training_latency_high", "kasmina_isolation_violation", "oona_queue_depth", "oona_publish_dropped",
                "tezzeret_compile_retry_high", "nissa_notifications_dead_lettered",
            ])
        #expect(items.allSatisfy { $0["triggered"] as? Bool == true && $0["cleared"] as? Bool == true })
        #expect(try server.request("POST", "/api/v1/nissa/drills/no_such_rule").status == 404)
        #expect(try server.request("POST", "/api/v1/nissa/drills/oona_queue_depth?hold_s=-1").status == 422)
        #expect(try server.request("POST", "/api/v1/nissa/drills/oona_queue_depth?hold=1").status == 400)
        // Drills never count as production alerts.
        #expect((try server.statusJSON("/metrics/summary").1["alerts"] as? [String: Any])?.isEmpty == true)
        #expect(try server.get("/metrics").text.contains(#"esper_alerts_active{severity="critical"} 0"#))
    }

    @Test func grafanaEndpointsAnswerTheProtocolShapes() throws {
        let server = try ServerHarness()
        let nissa = server.application.nissa
        nissa.ingest(.telemetry(Self.telemetry("kasmina", [("kasmina.seeds.active", 2)], attributes: ["run": "r9", "seed": "s9"])))
        nissa.ingest(.telemetry(Self.telemetry("tezzeret", [("tezzeret.compile.retry_count", 9)])))
        #expect(try server.get("/grafana").status == 200)

        let (_, metrics) = try Self.post(server, "/grafana/metrics", "{}")
        let list = try #require(metrics as? [[String: Any]])
        let seeds = try #require(list.first { $0["value"] as? String == "kasmina.seeds.active" })
        let payloads = try #require(seeds["payloads"] as? [[String: Any]])
        #expect(payloads.map { $0["name"] as? String ?? "" } == ["run", "seed", "stream", "subsystem"])
        #expect(payloads.allSatisfy { $0["type"] as? String == "select" })
        #expect((payloads[0]["options"] as? [[String: String]]) == [["label": "r9", "value": "r9"]])
        #expect(list.contains { $0["value"] as? String == "nissa.alerts" })

        let (_, options) = try Self.post(
            server, "/grafana/metric-payload-options", #"{"metric":"kasmina.seeds.active","payload":{},"name":"seed"}"#)
        #expect(options as? [[String: String]] == [["label": "s9", "value": "s9"]])
        let (_, runs) = try Self.post(server, "/grafana/variable", #"{"payload":{"target":"runs"},"range":{}}"#)
        #expect(runs as? [[String: String]] == [["__text": "r9", "__value": "r9"]])
        let (_, seedVariable) = try Self.post(server, "/grafana/variable", #"{"payload":{"target":"seeds"}}"#)
        #expect(seedVariable as? [[String: String]] == [["__text": "s9", "__value": "s9"]])
        let (_, keys) = try Self.post(server, "/grafana/tag-keys", "{}")
        #expect(keys as? [[String: String]] == ["run", "seed", "stream", "subsystem"].map { ["type": "string", "text": $0] })
        let (_, values) = try Self.post(server, "/grafana/tag-values", #"{"key":"subsystem"}"#)
        // (and `oona`, whose first queue-depth report goes out right after start)
        #expect((values as? [[String: String]])?.filter { $0["text"] != "oona" } == [["text": "kasmina"], ["text": "tezzeret"]])

        let now = LeylineTimestamp.now()
        let range =
            #"{"from":"\#(LeylineTimestamp(seconds: now.seconds - 3600).rfc3339)","to":"\#(LeylineTimestamp(seconds: now.seconds + 60).rfc3339)"}"#
        let (status, tables) = try Self.post(
            server, "/grafana/query",
            #"{"range":\#(range),"targets":[{"target":"nissa.alerts","refId":"A"},{"target":"nissa.events","refId":"B"},{"target":"nissa.slo","refId":"C"}]}"#
        )
        #expect(status == 200)
        let answer = try #require(tables as? [[String: Any]])
        #expect(answer.count == 3 && answer.allSatisfy { $0["type"] as? String == "table" })
        let columns = try #require(answer[0]["columns"] as? [[String: String]])
        #expect(columns.first == ["text": "Time", "type": "time"])
        let rows = try #require(answer[0]["rows"] as? [[Any]])
        #expect(rows.count == 1 && rows[0][0] is Int && (rows[0][2] as? String)?.hasPrefix("tezzeret_compile_retry_high") == true)
        let events = try #require(answer[1]["rows"] as? [[Any]])
        #expect(events.contains { ($0[1] as? String)?.contains("firing") == true })

        // Bad input: 422 naming the field, 400 for broken JSON.
        let (badStatus, bad) = try Self.post(server, "/grafana/query", #"{"range":{"from":"yesterday","to":"now"},"targets":[]}"#)
        #expect(badStatus == 422)
        #expect(((bad as? [String: Any])?["errors"] as? [[String: String]])?.first?["field"] == "range.from")
        #expect(try Self.post(server, "/grafana/variable", #"{"payload":{"target":"everything"}}"#).0 == 422)
        #expect(try Self.post(server, "/grafana/tag-values", #"{"key":"colour"}"#).0 == 422)
        #expect(try server.request("POST", "/grafana/query", json: "{").status == 400)
    }

    @Test func nissaSettingsAreValidated() throws {
        let directory = TemporaryDirectory("esper-nissa-config")
        func attempt(_ values: [String: String]) -> String? {
            do {
                _ = try Configuration.resolve(
                    flags: [:], environment: ["ESPER_DATA_DIR": directory.path + "/var"].merging(values) { $1 },
                    workingDirectory: directory.path)
                return nil
            } catch {
                return error.description
            }
        }
        try #"{"rules":[{"name":"x","metric":"m","comparator":"~","threshold":1,"severity":"info","routes":["email"]}]}"#
            .write(toFile: directory.path + "/rules.json", atomically: true, encoding: .utf8)
        #expect(
            attempt(["NISSA_RULES_FILE": "rules.json"])?.contains(
                "NISSA_RULES_FILE: \(directory.path)/rules.json: rules[0].comparator: '~' is not one of") == true)
        #expect(attempt(["NISSA_RULES_FILE": "missing.json"])?.contains("NISSA_RULES_FILE") == true)
        #expect(attempt(["NISSA_SLACK_WEBHOOK_URL": "ftp://x"])?.hasPrefix("invalid configuration: NISSA_SLACK_WEBHOOK_URL") == true)
        #expect(attempt(["NISSA_SLO_TARGET": "1.5"])?.hasPrefix("invalid configuration: NISSA_SLO_TARGET") == true)
        #expect(attempt(["NISSA_SERIES_MAX_POINTS": "many"])?.hasPrefix("invalid configuration: NISSA_SERIES_MAX_POINTS") == true)
        #expect(attempt(["NISSA_SLO_SHORT_WINDOW_S": "99999999"])?.hasPrefix("invalid configuration: NISSA_SLO_SHORT_WINDOW_S") == true)
        let good = try Configuration.resolve(
            flags: [:],
            environment: [
                "ESPER_DATA_DIR": directory.path + "/var", "NISSA_SERIES_SPAN_S": "60",
                "NISSA_PAGERDUTY_WEBHOOK_URL": "https://events.example/x",
            ],
            workingDirectory: directory.path)
        #expect(good.nissa.seriesSpanSeconds == 60 && good.nissa.receivers == ["pagerduty": "https://events.example/x"])
        #expect(good.nissa.rules == AlertRuleSet.builtIn)
        #expect(good.nissa.finishedRunRetentionSeconds == 3600)
        for bad in ["-1", "soon", "2592001", "nan"] {
            #expect(
                attempt(["NISSA_FINISHED_RUN_RETENTION_S": bad])?.hasPrefix("invalid configuration: NISSA_FINISHED_RUN_RETENTION_S") == true
            )
        }
        let short = try Configuration.resolve(
            flags: [:], environment: ["ESPER_DATA_DIR": directory.path + "/var", "NISSA_FINISHED_RUN_RETENTION_S": "0.5"],
            workingDirectory: directory.path)
        #expect(short.nissa.finishedRunRetentionSeconds == 0.5)
    }
}

/// A real Prometheus (Debian's package) scrapes the server with the job of
/// infra/prometheus.yml and reports the target up.
@Suite(.serialized) struct PrometheusScrapeTests {
    @Test func prometheusScrapesTheServer() throws {
        let prometheus = try #require(
            Tools.find("prometheus"),
            "prometheus is missing: install the Debian package 'prometheus' (scripts/bootstrap.sh does)")
        let server = try ServerHarness()
        let directory = TemporaryDirectory("esper-prometheus")
        let port = try freeLoopbackPort()
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: nissa
                metrics_path: /metrics
                static_configs:
                  - targets: ["127.0.0.1:\(server.port)"]
            """
        try config.write(toFile: directory.path + "/prometheus.yml", atomically: true, encoding: .utf8)
        let child = try ChildProgram(
            prometheus,
            [
                "--config.file=\(directory.path)/prometheus.yml", "--storage.tsdb.path=\(directory.path)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ],
            logPath: directory.path + "/prometheus.log")
        defer { child.stop() }
        var lastAnswer = ""
        let up = eventually(within: 90) {
            guard let response = try? RawHTTP.request(port: port, path: "/api/v1/targets") else { return false }
            lastAnswer = response.text
            guard let body = try? RawHTTP.json(response), let data = body["data"] as? [String: Any],
                let targets = data["activeTargets"] as? [[String: Any]]
            else { return false }
            return targets.contains {
                $0["scrapePool"] as? String == "nissa" && $0["health"] as? String == "up"
                    && $0["scrapeUrl"] as? String == "http://127.0.0.1:\(server.port)/metrics"
            }
        }
        #expect(up, "targets: \(lastAnswer.prefix(2000)); prometheus log: \(child.log.suffix(2000))")
    }
}

/// infra/: the Prometheus config and rules pass promtool; the dashboard has the runbook's
/// panels, uses only provisioned datasources, and its counters never start red.
@Suite struct InfraFilesTests {
    @Test func prometheusConfigAndRulesPassPromtool() throws {
        let promtool = try #require(
            Tools.find("promtool"),
            "promtool is missing: install the Debian package 'prometheus' (scripts/bootstrap.sh does)")
        let config = try Tools.run(promtool, ["check", "config", packageRoot() + "/infra/prometheus.yml"])
        #expect(config.status == 0, "\(config.output)")
        #expect(try String(contentsOfFile: packageRoot() + "/infra/prometheus.yml", encoding: .utf8).contains("job_name: nissa"))
    }

    @Test func dashboardHasTheRunbookPanels() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: packageRoot() + "/infra/grafana/dashboards/nissa-overview.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["uid"] as? String == "nissa-overview" && dashboard["title"] as? String == "Nissa Observability")
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let titles = Set(panels.compactMap { $0["title"] as? String })
        for title in [
            "Telemetry Packets Ingested", "Field Reports Ingested", "Telemetry Packet Rate by source", "Field Report Rate by outcome",
            "Training loss", "Seeds active", "Alerts firing", "SLO error-budget burn rate",
        ] {
            #expect(titles.contains(title), "\(title)")
        }
        #expect(
            titles.contains { $0.hasPrefix("Oona queue depth") } && titles.contains { $0.hasPrefix("Isolation violations") }
                && titles.contains { $0.hasPrefix("Epoch-boundary hook latency") })
        #expect(titles.contains { $0.hasPrefix("Tamiyo risk level") }, "the risk engine's level and dimensions")
        #expect(Set(panels.compactMap { $0["id"] as? Int }).count == panels.count)
        let provisioning = try String(contentsOfFile: packageRoot() + "/infra/grafana/provisioning/datasources/esper.yml", encoding: .utf8)
        for panel in panels {
            let uid = (panel["datasource"] as? [String: Any])?["uid"] as? String ?? ""
            #expect(provisioning.contains("uid: \(uid)"), "panel \(panel["title"] ?? "") uses datasource \(uid)")
            let steps =
                ((panel["fieldConfig"] as? [String: Any])?["defaults"] as? [String: Any])
                .flatMap { ($0["thresholds"] as? [String: Any])?["steps"] as? [[String: Any]] } ?? []
            #expect(steps.first?["color"] as? String != "red", "panel \(panel["title"] ?? "") starts red")
        }
    }
}

extension ServerHarness {
    /// GET → (status, JSON object).
    func statusJSON(_ path: String) throws -> (Int, [String: Any]) {
        let response = try get(path)
        return (response.status, try RawHTTP.json(response))
    }
}
