import EsperServer
import EsperTestSupport
import Foundation
import Leyline
import Oona
import Testing

/// Tolaria publishes every epoch on the bus: a SystemStatePacket on the normal stream and
/// the spec's telemetry (source `tolaria`) on the telemetry stream.
@Suite(.serialized) struct RunBusPublishingTests {
    @Test func everyEpochIsPublishedAsStateAndTelemetry() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 1 }
        let bus = app.application.bus
        // A group created before the run sees everything the run publishes.
        try bus.ensureConsumerGroup("test-observer", streams: [.normal, .telemetry])
        let id = try app.submit(#"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 3, "learning_rate": 0.01, "seed": 3}"#)
        #expect(try app.waitFor(id, status: "succeeded", within: 60))

        let consumer = OonaConsumer(client: bus, streams: [.normal, .telemetry], group: "test-observer", name: "observer-1")
        var states: [SystemStatePacket] = []
        var telemetry: [TelemetryPacket] = []
        _ = eventually(within: 10) {
            _ = try? consumer.poll(count: 50, block: .milliseconds(100)) { delivery in
                switch delivery.message {
                case .systemState(let packet) where packet.trainingRunId == id: states.append(packet)
                case .telemetry(let packet) where packet.metrics.first?.attributes["run_id"] == id: telemetry.append(packet)
                default: break
                }
            }
            return states.count >= 3 && telemetry.count >= 3
        }
        consumer.close()
        #expect(states.map(\.currentEpoch) == [0, 1, 2])
        #expect(states.allSatisfy { $0.sourceSubsystem == "tolaria" && $0.version == 1 && $0.validationAccuracy > 0 })
        #expect(states.last?.packetId == "\(id)-epoch-2")
        #expect(states.last?.trainingMetrics["loss"] != nil)

        #expect(telemetry.count == 3)
        let names = Set(telemetry[0].metrics.map(\.name))
        for expected in ["tolaria.training.loss", "tolaria.training.latency_ms", "tolaria.seeds.active", "tolaria.validation.accuracy"] {
            #expect(names.contains(expected), "missing \(expected)")
        }
        #expect(telemetry.allSatisfy { $0.sourceSubsystem == "tolaria" })

        // The REST history and the bus agree on the validation numbers.
        let history = try #require(try app.object("GET", "/api/v1/runs/\(id)/metrics")["epochs"] as? [[String: Any]])
        let restAccuracy = try #require(history.last?["validation_accuracy"] as? Double)
        #expect(abs(Double(states.last!.validationAccuracy) - restAccuracy) < 1e-6)
    }
}
