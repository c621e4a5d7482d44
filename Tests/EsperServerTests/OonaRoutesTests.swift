import EsperServer
import EsperTestSupport
import Foundation
import Leyline
import Logging
import Oona
import Testing

extension ServerHarness {
    func statusAndJSON(_ path: String) throws -> (Int, [String: Any]) {
        let response = try get(path)
        return (response.status, try RawHTTP.json(response))
    }
}

@Suite(.serialized) struct OonaRoutesTests {
    static let metricKeys = [
        "publish_total", "publish_rerouted", "publish_dropped", "queue_depth_max", "queue_depth_normal",
        "queue_depth_emergency", "reclaimed", "dead_lettered", "signature_rejected", "reconnects",
        "publish_failed", "consumed", "acked", "handler_failed", "expired", "version_mismatch",
        "unknown_fields_ignored", "circuit_breaker_publish", "circuit_breaker_consume", "stats_age_ms", "publish_shed",
    ]

    @Test func metricsAndStreamsReportThePublishes() throws {
        let server = try ServerHarness(environment: ["OONA_EMERGENCY_THRESHOLD": "2", "OONA_DROP_THRESHOLD": "3"])
        // One batch (one round trip): the server's own consumers cannot take anything before
        // it is routed, so the reference's numbers come out whatever the timing.
        let before = try server.statusAndJSON("/api/v1/oona/metrics").1["publish_total"] as? Int ?? 0
        let batch: [(BusMessage, PublishOptions)] = (0..<6).map { index in
            var packet = Fixtures.systemState
            packet.packetId = "p-\(index)"
            return (.systemState(packet), PublishOptions())
        }
        _ = try server.application.bus.publish(batch: batch)
        let (status, metrics) = try server.statusAndJSON("/api/v1/oona/metrics")
        #expect(status == 200)
        for key in OonaRoutesTests.metricKeys { #expect(metrics[key] is NSNumber, "\(key)") }
        // Five written, plus the drop's announcement on the telemetry stream (and perhaps a
        // queue-depth report meanwhile).
        #expect((metrics["publish_total"] as? Int ?? 0) - before >= 6)
        #expect(metrics["publish_rerouted"] as? Int == 3)
        #expect(metrics["publish_dropped"] as? Int == 1)
        #expect(metrics["queue_depth_max"] as? Int == 3)
        #expect(metrics["conservative_mode"] as? Bool == false)
        // The drop is an alert too: Nissa reads the announcement's `oona.publish.dropped`.
        #expect(
            try eventually(within: 10) {
                let (_, alerts) = try server.statusAndJSON("/api/v1/nissa/alerts?rule=oona_publish_dropped")
                let items = alerts["items"] as? [[String: Any]] ?? []
                return items.contains { $0["source"] as? String == "oona" && $0["drill"] as? Bool == false }
            })
        // The server's own counters are in the fleet view, under its consumer name.
        let consumer = server.application.bus.configuration.consumerName
        #expect(
            try eventually(within: 10) {
                let (_, body) = try server.statusAndJSON("/api/v1/oona/metrics")
                let publishers = body["publishers"] as? [[String: Any]] ?? []
                let mine = publishers.first { $0["id"] as? String == consumer }
                return (mine?["counters"] as? [String: Any])?["publish_dropped"] as? Int == 1
                    && (body["fleet"] as? [String: Any])?["publish_dropped"] as? Int == 1
            })

        #expect(
            try eventually(within: 10) {
                let (_, body) = try server.statusAndJSON("/api/v1/oona/streams")
                let streams = body["streams"] as? [[String: Any]] ?? []
                let normal = streams.first { $0["stream"] as? String == "normal" }
                let emergency = streams.first { $0["stream"] as? String == "emergency" }
                return normal?["length"] as? Int == 2 && emergency?["length"] as? Int == 3
            })
        let (streamsStatus, body) = try server.statusAndJSON("/api/v1/oona/streams")
        #expect(streamsStatus == 200)
        #expect(body["stale"] as? Bool == false)
        #expect(body["error"] is NSNull)
        #expect(body["sampled_at"] is String)
        let streams = try #require(body["streams"] as? [[String: Any]])
        #expect(streams.map { $0["stream"] as? String ?? "" } == OonaStream.allCases.map(\.label))
        let normal = try #require(streams.first)
        #expect(normal["key"] as? String == "esper:{bus}:oona.normal")
        #expect(normal["dead_letter_key"] as? String == "esper:{bus}:oona.normal.dlq")
        for key in ["length", "backlog", "pending", "consumers", "oldest_pending_age_ms", "dead_letter_length"] {
            #expect(normal[key] is NSNumber, "\(key)")
        }
        let groups = try #require(normal["groups"] as? [[String: Any]])
        // The server's own group, Nissa's (`nissa`) and Simic's field-report reader (`simic`,
        // created by its consumer thread, so perhaps not yet).
        let names = groups.compactMap { $0["name"] as? String }
        #expect(names.starts(with: ["esper", "nissa"]) && Set(names).isSubset(of: ["esper", "nissa", "simic"]))
        #expect(groups.first?["lag"] is NSNumber)

        let (metricsAfter, _) = try server.statusAndJSON("/api/v1/oona/metrics")
        #expect(metricsAfter == 200)
        // The server's consumers took everything: the history stays, the backlog is gone.
        #expect(
            try eventually(within: 10) {
                let (_, fresh) = try server.statusAndJSON("/api/v1/oona/metrics")
                return fresh["queue_depth_normal"] as? Int == 0 && fresh["queue_depth_emergency"] as? Int == 0
                    && (fresh["stream_backlog"] as? [String: Any])?["emergency"] as? Int == 0
            })
        let (_, fresh) = try server.statusAndJSON("/api/v1/oona/metrics")
        #expect((fresh["stream_length"] as? [String: Any])?["emergency"] as? Int == 3)

        let health = try server.statusAndJSON("/healthz")
        #expect(health.0 == 200)
        let checks = try #require(health.1["checks"] as? [String: Any])
        #expect((checks["bus"] as? [String: Any])?["status"] as? String == "ok")

        let prometheus = try server.get("/metrics").text
        #expect(prometheus.contains("esper_oona_publish_dropped_total 1"))
        #expect(prometheus.contains("esper_oona_fleet_publish_dropped 1.0"))
        #expect(prometheus.contains("esper_oona_publisher_publish_dropped{publisher=\"\(consumer)\"} 1.0"))
        #expect(prometheus.contains(#"esper_oona_stream_backlog{stream="normal"} 0.0"#))
    }

    /// Redis dies under a running server: publishes fail with a typed error, the breaker
    /// opens, /healthz says the bus is degraded, no endpoint answers 500 — and all of it
    /// recovers when the supervisor has restarted Redis.
    @Test func busDegradesAndRecoversWhenRedisDies() throws {
        let server = try ServerHarness(environment: ["OONA_BREAKER_RECOVERY_MS": "200"])
        let bus = server.application.bus
        try bus.publishTelemetry(Fixtures.telemetry)
        let managed = try #require(server.application.managedRedis)
        kill(try #require(managed.pid), SIGKILL)

        var sawOpen = false
        var sawDegraded = false
        let recovered = try eventually(within: 30) {
            do {
                try bus.publishTelemetry(Fixtures.telemetry)
            } catch let error as OonaError {
                #expect(error.isTransient)
                if case .circuitOpen = error { sawOpen = true }
            }
            for path in ["/healthz", "/api/v1/oona/metrics", "/api/v1/oona/streams"] {
                let response = try server.get(path)
                #expect(response.status != 500)
                if response.status >= 400 && path != "/healthz" {
                    #expect(response.header("content-type") == "application/problem+json")
                }
                if path == "/healthz", response.status == 503,
                    let checks = try RawHTTP.json(response)["checks"] as? [String: Any],
                    (checks["bus"] as? [String: Any])?["status"] as? String == "degraded"
                {
                    sawDegraded = true
                }
            }
            let healthy = try server.get("/healthz").status == 200
            return sawOpen && bus.publishBreaker.currentState == .closed && healthy
        }
        #expect(recovered)
        #expect(sawOpen)
        #expect(sawDegraded)
        let (_, metrics) = try server.statusAndJSON("/api/v1/oona/metrics")
        #expect((metrics["publish_failed"] as? Int ?? 0) > 0)
        #expect((metrics["reconnects"] as? Int ?? 0) > 0)
        #expect(metrics["circuit_breaker_publish"] as? Int == 0)
    }

    /// Started with Redis unreachable: the server runs degraded instead of refusing to start.
    @Test func serverStartsWhileRedisIsDown() throws {
        let server = try ServerHarness(environment: ["REDIS_URL": "unix:///tmp/esper-no-redis-\(getpid()).sock"])
        let streams = try server.get("/api/v1/oona/streams")
        #expect(streams.status == 503)
        #expect(streams.header("content-type") == "application/problem+json")
        #expect(streams.header("retry-after") == "1")
        let (status, metrics) = try server.statusAndJSON("/api/v1/oona/metrics")
        #expect(status == 200)
        #expect(metrics["stats_age_ms"] as? Int == -1)
        let health = try server.get("/healthz")
        #expect(health.status == 503)
        let checks = try #require(try RawHTTP.json(health)["checks"] as? [String: Any])
        #expect((checks["bus"] as? [String: Any])?["status"] as? String == "degraded")
        #expect(throws: OonaError.self) { try server.application.bus.publishTelemetry(Fixtures.telemetry) }
    }
}

@Suite struct OonaConfigurationTests {
    func resolve(_ environment: [String: String]) throws(ConfigurationError) -> Configuration {
        let directory = TemporaryDirectory("esper-config")
        return try Configuration.resolve(
            flags: [:], environment: ["ESPER_DATA_DIR": directory.path + "/var"].merging(environment) { $1 },
            workingDirectory: directory.path)
    }

    @Test func backlogModeAndDrillSettingsAreRead() throws {
        let defaults = try resolve([:])
        let bus = defaults.oonaConfiguration()
        #expect(bus.backlogRefreshInterval == .milliseconds(100))
        #expect(bus.conservativeOnBacklog == 2000 && bus.conservativeAuto)
        #expect(defaults.nissa.drillHoldSeconds == 60)
        let set = try resolve([
            "OONA_BACKLOG_REFRESH_MS": "0", "OONA_CONSERVATIVE_BACKLOG": "0", "OONA_EMERGENCY_THRESHOLD": "600",
            "NISSA_ALERTMANAGER_RESEND_S": "120",
        ])
        #expect(set.oonaConfiguration().backlogRefreshInterval == .zero)
        #expect(set.oonaConfiguration().conservativeOnBacklog == nil)
        #expect(set.nissa.drillHoldSeconds == 120, "one Alertmanager resend")
        #expect(try resolve(["OONA_EMERGENCY_THRESHOLD": "600"]).oonaConfiguration().conservativeOnBacklog == 300)
        #expect(try resolve(["NISSA_DRILL_HOLD_S": "2.5"]).nissa.drillHoldSeconds == 2.5)
        #expect(throws: ConfigurationError.self) { _ = try resolve(["NISSA_DRILL_HOLD_S": "-1"]) }
        #expect(throws: ConfigurationError.self) { _ = try resolve(["OONA_BACKLOG_REFRESH_MS": "fast"]) }
        #expect(throws: ConfigurationError.self) { _ = try resolve(["OONA_CONSERVATIVE_BACKLOG": "-5"]) }
    }

    @Test func busSettingsAreReadAndValidated() throws {
        let configuration = try resolve([
            "OONA_MAX_STREAM_LENGTH": "0", "OONA_EMERGENCY_THRESHOLD": "100", "OONA_DROP_THRESHOLD": "200",
            "OONA_MESSAGE_TTL_S": "60", "OONA_CLAIM_MIN_IDLE_MS": "500", "OONA_MAX_ATTEMPTS": "5",
            "OONA_BREAKER_RECOVERY_MS": "1000", "OONA_NORMAL_STREAM": "custom.normal",
        ])
        let bus = configuration.oonaConfiguration()
        #expect(bus.maxStreamLength == nil)
        #expect(bus.emergencyThreshold == 100 && bus.backpressureDropThreshold == 200)
        #expect(bus.messageTTL == .seconds(60) && bus.claimMinIdle == .milliseconds(500))
        #expect(bus.maxAttempts == 5 && bus.breakerRecovery == .seconds(1))
        #expect(OonaStreamKeys(names: bus.streams).key(.normal) == "esper:{bus}:custom.normal")
        #expect(bus.signer == nil)

        #expect(throws: ConfigurationError.self) { _ = try resolve(["OONA_EMERGENCY_THRESHOLD": "500", "OONA_DROP_THRESHOLD": "500"]) }
        #expect(throws: ConfigurationError.self) { _ = try resolve(["OONA_MAX_ATTEMPTS": "0"]) }
        #expect(throws: ConfigurationError.self) { _ = try resolve(["OONA_DROP_THRESHOLD": "x"]) }
        let error = try #require(throws: ConfigurationError.self) {
            _ = try resolve(["OONA_EMERGENCY_THRESHOLD": "9000"])  // above the default drop threshold 8000
        }
        #expect(error.description.contains("OONA_DROP_THRESHOLD"))
    }

    @Test func signingKeysComeFromTheEnvironment() throws {
        let secret = String(repeating: "k", count: 32)
        let previous = String(repeating: "p", count: 32)
        let configuration = try resolve(["ESPER_LEYLINE_SECRET": secret, "ESPER_LEYLINE_PREVIOUS_SECRET": previous])
        let signer = try #require(configuration.oonaConfiguration().signer)
        let old = try LeylineSigner(secret: previous)
        #expect(signer.verify(Array("x".utf8), signature: old.sign(Array("x".utf8)), keyId: old.current.id) == nil)
        #expect(throws: ConfigurationError.self) { _ = try resolve(["ESPER_LEYLINE_SECRET": ""]) }
        #expect(throws: ConfigurationError.self) { _ = try resolve(["ESPER_LEYLINE_PREVIOUS_SECRET": previous]) }
        #expect(throws: ConfigurationError.self) {
            _ = try resolve(["ESPER_LEYLINE_SECRET": secret, "ESPER_LEYLINE_PREVIOUS_SECRET": "short"])
        }
    }
}
