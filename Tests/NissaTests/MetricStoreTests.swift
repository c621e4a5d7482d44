import EsperJSON
import Foundation
import Leyline
import Nissa
import Prometheus
import Testing

@Suite struct TimeSeriesRingTests {
    @Test func keepsTheNewestPointsInOrder() {
        var ring = TimeSeriesRing(capacity: 4, spanMilliseconds: 1_000_000)
        for t in 1...6 { ring.append(time: Int64(t), value: Double(t)) }
        #expect(ring.count == 4)
        #expect(ring.range(from: 0, to: 100, maxPoints: 100).map(\.time) == [3, 4, 5, 6])
        ring.append(time: 4, value: 40)  // out of order: inserted in place, oldest dropped
        #expect(ring.range(from: 0, to: 100, maxPoints: 100).map(\.time) == [4, 4, 5, 6])
    }

    @Test func prunesBySpanAndDownsamplesAscending() {
        var ring = TimeSeriesRing(capacity: 10_000, spanMilliseconds: 5000)
        for t in stride(from: 0, to: 10_000, by: 1) { ring.append(time: Int64(t), value: 1) }
        #expect(ring.time(at: 0) == 4999)
        let points = ring.range(from: 6000, to: 8000, maxPoints: 100)
        #expect(points.count == 100)
        #expect(points.map(\.time) == points.map(\.time).sorted())
        #expect(points.last?.time == 8000 && points.first!.time >= 6000)
        #expect(points.allSatisfy { $0.value == 1 })
        #expect(ring.range(from: 20_000, to: 30_000, maxPoints: 10).isEmpty)
    }
}

@Suite struct IngestTests {
    @Test func telemetryBecomesLabelledGaugesAndSeries() throws {
        let (nissa, registry) = makeNissa()
        nissa.ingest(
            packet(
                "tolaria", [("tolaria.training.loss", 0.75), ("tolaria.epoch_hook.latency_ms", 12.5)],
                attributes: ["run_id": "run-1", "seed_id": "s-1", "other": "x"]))
        let text = registry.emitToString()
        #expect(text.contains(#"esper_tolaria_training_loss{run="run-1",seed="s-1",subsystem="tolaria"} 0.75"#))
        #expect(text.contains(#"esper_tolaria_epoch_hook_latency_seconds{run="run-1",seed="s-1",subsystem="tolaria"} 0.0125"#))
        #expect(text.contains(#"esper_telemetry_packets_total{source="tolaria"} 1"#))
        #expect(nissa.store.names() == ["tolaria.epoch_hook.latency_ms", "tolaria.training.loss"])
        #expect(nissa.runIds() == ["run-1"] && nissa.seedIds() == ["s-1"])
    }

    @Test func redeliveryIsNotCountedTwice() {
        let (nissa, registry) = makeNissa()
        let message = packet("tamiyo", [("tamiyo.validation_loss", 0.5)], id: "same")
        #expect(nissa.ingest(message))
        #expect(!nissa.ingest(message))
        #expect(registry.emitToString().contains(#"esper_telemetry_packets_total{source="tamiyo"} 1"#))
        #expect(registry.emitToString().contains("esper_nissa_duplicates_total 1"))
    }

    @Test func stateReportsAndSimicCounters() {
        let (nissa, registry) = makeNissa()
        let state = SystemStatePacket(
            currentEpoch: 3, seedStates: [SeedState(seedId: "s1", stage: .training)], packetId: "st-1",
            sourceSubsystem: "tolaria", trainingRunId: "r")
        nissa.ingest(.systemState(state))
        nissa.ingest(.fieldReport(FieldReport(reportId: "fr-1", outcome: .success)))
        nissa.ingest(packet("simic", [("simic.training.reward", -1.25), ("simic.training.iterations", 3)]))
        let text = registry.emitToString()
        #expect(text.contains(#"esper_system_state_packets_total{phase="tolaria"} 1"#))
        #expect(text.contains("esper_training_runs_total 1"))
        #expect(text.contains(#"esper_field_reports_total{outcome="success"} 1"#))
        #expect(text.contains("esper_simic_training_reward_cumulative -1.25"))
        #expect(text.contains("esper_simic_training_iterations_total 3"))
        #expect(text.contains(#"esper_tolaria_seed_stage{run="r",seed="s1",subsystem="tolaria"} 2"#))
    }

    @Test func sloBurnRatesFollowTheSpecExample() throws {
        let (nissa, _) = makeNissa()
        for (actual, objective) in [(120.0, 100.0), (90, 100), (130, 100)] {
            nissa.ingest(packet("tolaria", [("slo.epoch_latency_objective", objective), ("slo.epoch_latency_actual", actual)]))
        }
        nissa.ingest(packet("tolaria", [("slo.lonely_actual", 1)]))  // no objective: ignored
        let status = try #require(nissa.slo.snapshot(now: LeylineTimestamp.now().millisecondsSinceEpoch)["epoch_latency"])
        #expect(status.total == 3 && status.violations == 2)
        #expect(abs(status.violationFraction - 2.0 / 3) < 1e-9)
        #expect(abs(status.burnRate - (2.0 / 3) / 0.01) < 1e-6)
        #expect(status.burnRateShort == status.burnRate && status.budgetRemaining == 0 && status.breached)
        #expect(nissa.slo.snapshot(now: LeylineTimestamp.now().millisecondsSinceEpoch).count == 1)
    }

    @Test func grafanaQueryAnswersSortedMillisecondsWithinTheRange() throws {
        let (nissa, _) = makeNissa()
        let base: Int64 = 1_800_000_000_000
        for i in 0..<50 {
            let time = LeylineTimestamp(nanosecondsSinceEpoch: (base + Int64(i) * 1000) * 1_000_000)
            nissa.ingest(packet("tolaria", [("tolaria.training.loss", Double(i))], attributes: ["run": i % 2 == 0 ? "a" : "b"], at: time))
        }
        let datasource = GrafanaDatasource(nissa: nissa)
        let from = LeylineTimestamp(nanosecondsSinceEpoch: (base + 10_000) * 1_000_000).rfc3339
        let to = LeylineTimestamp(nanosecondsSinceEpoch: (base + 29_000) * 1_000_000).rfc3339
        let body = try JSONValue.parse(
            #"{"range":{"from":"\#(from)","to":"\#(to)"},"maxDataPoints":5,"targets":[{"target":"tolaria.training.loss","refId":"A","payload":{"run":"a"}}]}"#
        )
        let answer = try JSONSerialization.jsonObject(with: Data(try datasource.query(body))) as? [[String: Any]] ?? []
        #expect(answer.count == 1)
        #expect(answer.first?["target"] as? String == #"tolaria.training.loss{run="a",subsystem="tolaria"}"#)
        let points = try #require(answer.first?["datapoints"] as? [[Double]])
        #expect(points.count == 5)
        let times = points.map { Int64($0[1]) }
        #expect(times == times.sorted() && times.first! >= base + 10_000 && times.last! == base + 28_000)
    }
}
