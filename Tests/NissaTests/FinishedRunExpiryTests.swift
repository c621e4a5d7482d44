import EsperJSON
import Foundation
import Leyline
import Nissa
import Prometheus
import Testing

/// Finished runs' series leave memory and `/metrics` after `NISSA_FINISHED_RUN_RETENTION_S`,
/// or sooner when the series limit needs room for live runs; fleet series stay.
@Suite struct FinishedRunExpiryTests {
    /// The `run_status` event the run service publishes when a run changes status.
    static func status(_ run: String, _ status: String) -> BusMessage {
        .telemetry(
            TelemetryPacket.build(
                packetId: "\(run)-status-\(status)-\(UUID().uuidString.prefix(8))", source: "tolaria", level: .info, metrics: [],
                events: [TelemetryEvent(description: "run_status", level: .info, attributes: ["run_id": run, "status": status])],
                healthSummary: "run_status"))
    }

    static func runSeries(_ registry: PrometheusCollectorRegistry, _ run: String) -> Int {
        registry.emitToString().split(separator: "\n").filter { $0.contains("run=\"\(run)\"") }.count
    }

    @Test func finishedRunsExpireAfterTheRetentionAndLiveOnesStay() throws {
        let (nissa, registry) = makeNissa { $0.finishedRunRetentionSeconds = 60 }
        let t0: Int64 = 1_800_000_000_000
        let finished = (0..<400).map { "done-\($0)" }
        let live = ["live-a", "live-b", "live-c"]
        for run in finished + live {
            nissa.ingest(
                packet("tolaria", [("tolaria.training.loss", 0.5), ("tolaria.training.accuracy", 0.9)], attributes: ["run": run]),
                receivedAt: t0)
        }
        nissa.ingest(packet("oona", [("oona.queue_depth", 7)]), receivedAt: t0)
        // Statuses that are not terminal change nothing; the terminal ones of 400 runs start the clock.
        nissa.ingest(Self.status("live-a", "running"), receivedAt: t0)
        nissa.ingest(Self.status("live-b", "paused"), receivedAt: t0)
        for (index, run) in finished.enumerated() {
            nissa.ingest(Self.status(run, ["succeeded", "failed", "cancelled"][index % 3]), receivedAt: t0 + 1000)
        }
        #expect(nissa.store.seriesCount == 2 * 403 + 1)

        // Before the retention has passed: everything is still there.
        nissa.ingest(packet("oona", [("oona.queue_depth", 8)]), receivedAt: t0 + 60_999)
        #expect(nissa.store.seriesCount == 2 * 403 + 1)
        #expect(Self.runSeries(registry, "done-399") == 2)

        // Past it: the finished runs' series are gone from the store, /metrics and Grafana.
        nissa.ingest(packet("oona", [("oona.queue_depth", 9)]), receivedAt: t0 + 61_000)
        #expect(nissa.store.seriesCount == 2 * 3 + 1)
        #expect(nissa.store.runs() == live)
        #expect(nissa.runIds() == live)
        let text = registry.emitToString()
        #expect(!text.contains("done-"))
        for run in live {
            #expect(Self.runSeries(registry, run) == 2)
            #expect(nissa.store.query(name: "tolaria.training.loss", filters: ["run": run], from: 0, to: .max, maxPoints: 10).count == 1)
        }
        #expect(nissa.store.query(name: "tolaria.training.loss", filters: ["run": "done-0"], from: 0, to: .max, maxPoints: 10).isEmpty)
        #expect(text.contains(#"esper_oona_queue_depth{subsystem="oona"} 9"#))
        #expect(text.contains("esper_nissa_runs_expired_total 400"))
        #expect(text.contains("esper_nissa_series 7"))
        #expect(text.contains(#"esper_telemetry_packets_total{source="tolaria"} 805"#))
        let search = try GrafanaDatasource(nissa: nissa).search(JSONValue.parse(#"{"target":"runs"}"#))
        #expect(search == .array(live.map { .string($0) }))
        #expect(nissa.store.names() == ["oona.queue_depth", "tolaria.training.accuracy", "tolaria.training.loss"])

        // A late packet of an expired run (still on the bus) does not bring its series back.
        nissa.ingest(packet("tolaria", [("tolaria.training.loss", 0.1)], attributes: ["run": "done-7"]), receivedAt: t0 + 62_000)
        #expect(nissa.store.seriesCount == 2 * 3 + 1 && nissa.runIds() == live)

        // A live run that finishes later expires on its own clock.
        nissa.ingest(Self.status("live-c", "succeeded"), receivedAt: t0 + 70_000)
        nissa.ingest(packet("oona", [("oona.queue_depth", 1)]), receivedAt: t0 + 129_999)
        #expect(nissa.store.runs() == live)
        nissa.ingest(packet("oona", [("oona.queue_depth", 1)]), receivedAt: t0 + 130_000)
        #expect(nissa.store.runs() == ["live-a", "live-b"])
        #expect(Self.runSeries(registry, "live-c") == 0 && Self.runSeries(registry, "live-a") == 2)
    }

    @Test func atTheSeriesLimitTheEarliestFinishedRunMakesRoom() throws {
        let (nissa, registry) = makeNissa {
            $0.maxSeries = 50
            $0.finishedRunRetentionSeconds = 86_400
        }
        let t0: Int64 = 1_800_000_000_000
        for index in 0..<50 {
            nissa.ingest(packet("tolaria", [("tolaria.training.loss", 1)], attributes: ["run": "old-\(index)"]), receivedAt: t0)
            nissa.ingest(Self.status("old-\(index)", "succeeded"), receivedAt: t0 + Int64(index))
        }
        #expect(nissa.store.seriesCount == 50)
        // 20 new runs: each takes the place of the run that finished first, nothing is dropped.
        for index in 0..<20 {
            nissa.ingest(packet("tolaria", [("tolaria.training.loss", 2)], attributes: ["run": "new-\(index)"]), receivedAt: t0 + 1000)
        }
        #expect(nissa.store.seriesCount == 50)
        let runs = Set(nissa.store.runs())
        #expect(runs == Set((0..<20).map { "new-\($0)" } + (20..<50).map { "old-\($0)" }))
        let text = registry.emitToString()
        #expect(text.contains("esper_nissa_series_dropped_total 0"))
        #expect(text.contains("esper_nissa_runs_expired_total 20"))
        #expect(!text.contains(#"run="old-19""#) && text.contains(#"run="old-20""#) && text.contains(#"run="new-19""#))

        // With no finished run left to give way, points of further series are refused and counted.
        let (full, fullRegistry) = makeNissa { $0.maxSeries = 2 }
        for index in 0..<3 {
            full.ingest(packet("tolaria", [("tolaria.training.loss", 1)], attributes: ["run": "live-\(index)"]), receivedAt: t0)
        }
        #expect(full.store.runs() == ["live-0", "live-1"])
        #expect(fullRegistry.emitToString().contains("esper_nissa_series_dropped_total 1"))
        #expect(!fullRegistry.emitToString().contains(#"run="live-2""#))
    }
}
