import EsperJSON
import EsperTestSupport
import Foundation
import Leyline
import Testing

@Suite struct RoundTripTests {
    /// Encode → decode → equal, through both paths, and both paths write the same bytes.
    func roundTrip<T: LeylineMessage>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt8] {
        let direct = try LeylineCodec.encode(value)
        let jansson = try LeylineCodec.encodeWithJansson(value)
        #expect(String(decoding: direct, as: UTF8.self) == String(decoding: jansson, as: UTF8.self), sourceLocation: sourceLocation)
        #expect(try LeylineCodec.decode(T.self, from: direct) == value, sourceLocation: sourceLocation)
        #expect(try LeylineCodec.decodeWithJansson(T.self, from: direct) == value, sourceLocation: sourceLocation)
        return direct
    }

    @Test func referenceFixturesRoundTripWithinTheJSONBudget() throws {
        let sizes = [
            try roundTrip(Fixtures.systemState).count, try roundTrip(Fixtures.adaptationCommand).count,
            try roundTrip(Fixtures.fieldReport).count, try roundTrip(Fixtures.telemetry).count,
            try roundTrip(Fixtures.blueprint).count, try roundTrip(Fixtures.policyUpdate).count,
        ]
        for size in sizes { #expect(size <= SystemLimits.standard.maxJSONMessageBytes) }
        _ = try roundTrip(Fixtures.eightSeeds)
    }

    @Test func outputIsStableAndCarriesEveryField() throws {
        let text = String(decoding: try LeylineCodec.encode(Fixtures.systemState), as: UTF8.self)
        #expect(
            text
                == #"{"current_epoch":3,"experiment_name":"demo","global_step":1024,"hardware_context":{"available_memory_gb":0.0,"compute_capability":0,"device_id":"0","device_type":"cuda","temperature_celsius":0.0,"total_memory_gb":0.0,"utilization_percent":0.0},"packet_id":"run-epoch-3","seed_states":[{"age_epochs":4,"gradient_norm":0.18,"layer_depth":0,"learning_rate":0.002,"metrics":{"loss":0.321},"risk_score":0.1,"seed_id":"seed-1","stage":"SEED_STAGE_TRAINING"}],"source_subsystem":"tolaria","timestamp_ns":1758000000000000000,"training_loss":0.456,"training_metrics":{"grad_norm":0.12,"loss":0.456},"training_run_id":"run-demo","validation_accuracy":0.82,"validation_loss":0.123,"version":1}"#
        )
        let command = String(decoding: try LeylineCodec.encode(Fixtures.adaptationCommand), as: UTF8.self)
        #expect(
            command.contains(#""seed_operation":{"blueprint_id":"bp-demo","operation":"SEED_OP_GERMINATE","parameters":{"alpha":0.5}}"#))
        #expect(command.contains(#""issued_at":"2025-09-16T05:20:00Z""#))
        #expect(!command.contains("circuit_breaker"), "only the set oneof member is written")
    }

    @Test func busEnvelopeKeepsAttributesAndANestedBlueprint() throws {
        let payload = try JanssonEncoder().encodeValue(Fixtures.blueprint)
        let envelope = BusEnvelope(message: .unspecified(payload), eventId: "evt-1", attributes: ["origin": "unit-test"])
        let bytes = try roundTrip(envelope)
        let decoded = try LeylineCodec.decode(BusEnvelope.self, from: bytes)
        #expect(decoded.attributes == ["origin": "unit-test"])
        guard case .unspecified(let inner) = decoded.message else { Issue.record("payload type changed"); return }
        let blueprint = try LeylineCodec.decode(BlueprintDescriptor.self, from: try inner.serialized())
        #expect(blueprint.blueprintId == "bp-42")
        #expect(blueprint == Fixtures.blueprint)
    }

    @Test func everyBusMessageTypeRoundTripsInAnEnvelope() throws {
        for message in Fixtures.allMessages {
            let envelope = Fixtures.envelope(message)
            let bytes = try roundTrip(envelope)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(text.contains(#""message_type":"\#(message.messageType.name)""#))
            #expect(text.contains(#""ttl":"3600s""#))
        }
    }

    @Test func envelopeWithPayloadBeforeTypeStillDecodes() throws {
        // Producers other than ours may not sort keys.
        let inner = String(decoding: try LeylineCodec.encode(Fixtures.systemState), as: UTF8.self)
        let text =
            #"{"payload":\#(inner),"event_id":"e1","created_at":"2025-01-01T00:00:00Z","ttl":"60s","current_attempt":1,"max_attempts":3,"message_type":"BUS_MESSAGE_TYPE_SYSTEM_STATE"}"#
        for decoder in Decoders.all {
            let envelope = try decoder.decode(BusEnvelope.self, text)
            #expect(envelope.message == .systemState(Fixtures.systemState), "\(decoder.name)")
        }
    }

    @Test func absentAndNullFieldsTakeProtoDefaults() throws {
        for decoder in Decoders.all {
            let seed = try decoder.decode(SeedState.self, #"{"seed_id":"s","stage":null,"metrics":null}"#)
            #expect(seed == SeedState(seedId: "s"), "\(decoder.name)")
        }
    }

    @Test func sixtyFourBitIntegersAcceptDecimalStrings() throws {
        for decoder in Decoders.all {
            let packet = try decoder.decode(
                SystemStatePacket.self,
                #"{"version":1,"packet_id":"p","global_step":"9007199254740993","timestamp_ns":"1758000000000000000"}"#)
            #expect(packet.globalStep == 9_007_199_254_740_993, "\(decoder.name)")
        }
    }

    @Test func escapedAndUnicodeStringsRoundTrip() throws {
        var report = Fixtures.fieldReport
        report.notes = "quote \" backslash \\ tab \t newline \n ünïcödé 🚀 del \u{7F} bell \u{7}"
        report.metrics = ["z": 1, "a": 2, "é": 3, "B": 4, "🚀": 5]
        _ = try roundTrip(report)
        for decoder in Decoders.all {
            let decoded = try decoder.decode(SystemStatePacket.self, #"{"version":1,"packet_id":"\u0070-\ud83d\ude80\/"}"#)
            #expect(decoded.packetId == "p-🚀/", "\(decoder.name)")
        }
    }
}
