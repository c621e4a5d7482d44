import EsperJSON
import EsperTestSupport
import Leyline
import Testing

@Suite struct ValidationTests {
    @Test func onlyVersionOneIsAccepted() throws {
        for decoder in Decoders.all {
            let error = try #require(throws: LeylineDecodingError.self) {
                _ = try decoder.decode(SystemStatePacket.self, #"{"version":2,"packet_id":"p"}"#)
            }
            #expect(error == .unsupportedVersion(field: "version", found: 2), "\(decoder.name)")
            #expect(error.reason == "unsupported_version")
            // Absent means 0, which is not 1 either.
            let absent = try #require(throws: LeylineDecodingError.self) {
                _ = try decoder.decode(FieldReport.self, #"{"report_id":"r","outcome":"FIELD_REPORT_OUTCOME_SUCCESS"}"#)
            }
            #expect(absent == .unsupportedVersion(field: "version", found: 0), "\(decoder.name)")
        }
        var envelope = Fixtures.envelope(.adaptationCommand(Fixtures.adaptationCommand))
        if case .adaptationCommand(var command) = envelope.message {
            command.version = 7
            envelope.message = .adaptationCommand(command)
        }
        let bytes = try LeylineCodec.encode(envelope)
        #expect(throws: LeylineDecodingError.unsupportedVersion(field: "payload.version", found: 7)) {
            _ = try LeylineCodec.decode(BusEnvelope.self, from: bytes)
        }
    }

    @Test func problemsNameEveryBadField() {
        var packet = Fixtures.eightSeeds
        packet.validationAccuracy = 1.5
        packet.packetId = ""
        packet.seedStates[2].riskScore = 2
        packet.seedStates[5].seedId = ""
        packet.trainingMetrics["loss"] = .nan
        packet.hardwareContext.utilizationPercent = 101
        let fields = Set(packet.validationProblems().map(\.field))
        #expect(
            fields == [
                "validation_accuracy", "packet_id", "seed_states[2].risk_score", "seed_states[5].seed_id",
                "training_metrics.loss", "hardware_context.utilization_percent",
            ])
        #expect(Fixtures.systemState.validationProblems().isEmpty)
        #expect(Fixtures.adaptationCommand.validationProblems().isEmpty)
        #expect(Fixtures.fieldReport.validationProblems().isEmpty)
        #expect(Fixtures.telemetry.validationProblems().isEmpty)
        #expect(Fixtures.blueprint.validationProblems().isEmpty)
        #expect(Fixtures.policyUpdate.validationProblems().isEmpty)
    }

    /// A field table checks arrays of messages element by element where they are stored (no
    /// copies): the problems, their order and their paths are those of `LeylineValidator.each`
    /// over the elements, the path is back at the message after the array (`packet_id`), and
    /// an element type with a rule of its own (a span's end before its start) keeps it.
    @Test func arrayElementsAreCheckedInPlaceInOrder() {
        var packet = Fixtures.eightSeeds
        packet.seedStates[0].riskScore = 2
        packet.seedStates[3].seedId = ""
        packet.seedStates[3].metrics = ["": 1]
        packet.seedStates[5].metrics = ["loss": .infinity]
        packet.seedStates[7].learningRate = -1
        packet.seedStates[7].seedId = "s\u{1}"
        packet.packetId = ""
        var expected: [(String, String)] = [("seed_states[0].risk_score", "2.0 is outside 0.0...1.0")]
        expected += [("seed_states[3].seed_id", "is required and must not be empty"), ("seed_states[3].metrics", "keys must not be empty")]
        expected += [("seed_states[5].metrics.loss", "inf is not a finite number")]
        expected += [("seed_states[7].seed_id", "must not contain control characters")]
        expected += [("seed_states[7].learning_rate", "-1.0 is outside 0.0...3.4028234663852886e+38")]
        expected += [("packet_id", "is required and must not be empty")]
        let problems = packet.validationProblems()
        #expect(problems.map(\.field) == expected.map(\.0))
        #expect(problems.map(\.message) == expected.map(\.1))
        // The copying walk (`each` over the array's values) reports the same for the seeds.
        var reference = LeylineValidator()
        reference.each("seed_states", packet.seedStates)
        #expect(reference.problems == Array(problems.dropLast()))
        // Nothing for an empty array, and a span's own rule inside an array.
        packet.seedStates = []
        #expect(packet.validationProblems().map(\.field) == ["packet_id"])
        var telemetry = Fixtures.telemetry
        telemetry.spans = [
            TraceSpan(spanId: "a", name: "ok", startTime: LeylineTimestamp(seconds: 10), endTime: LeylineTimestamp(seconds: 11)),
            TraceSpan(spanId: "b", name: "late", startTime: LeylineTimestamp(seconds: 10), endTime: LeylineTimestamp(seconds: 9)),
        ]
        #expect(telemetry.validationProblems().map(\.field) == ["spans[1].end_time"])
    }

    @Test func commandsAndBlueprintsAreCheckedToo() {
        var command = Fixtures.adaptationCommand
        command.commandType = .unknown
        command.payload = .seedOperation(CommandSeedOperation(operation: .unknown))
        #expect(Set(command.validationProblems().map(\.field)) == ["command_type", "seed_operation.operation"])
        var seedCommand = Fixtures.adaptationCommand
        seedCommand.payload = nil
        seedCommand.targetSeedId = ""
        #expect(Set(seedCommand.validationProblems().map(\.field)) == ["target_seed_id", "seed_operation"])
        var blueprint = Fixtures.blueprint
        blueprint.allowedParameters["alpha"] = BlueprintParameterBounds(minValue: 1, maxValue: 0)
        blueprint.risk = -0.5
        #expect(Set(blueprint.validationProblems().map(\.field)) == ["allowed_parameters.alpha.min_value", "risk"])
    }

    @Test func nonFiniteFloatsCannotBeEncoded() throws {
        var packet = Fixtures.eightSeeds
        packet.seedStates[3].gradientNorm = .infinity
        let error = try #require(throws: LeylineDecodingError.self) { _ = try LeylineCodec.encode(packet) }
        #expect(error.problems.first?.field == "seed_states[3].gradient_norm")
    }

    @Test func oneofAllowsOneMember() throws {
        let text =
            #"{"version":1,"command_id":"c","command_type":"COMMAND_SEED","seed_operation":{"operation":"SEED_OP_CULL"},"circuit_breaker":{"desired_state":"CIRCUIT_STATE_OPEN"}}"#
        for decoder in Decoders.all {
            let error = try #require(throws: LeylineDecodingError.self) { _ = try decoder.decode(AdaptationCommand.self, text) }
            #expect(error.problems.first?.field == "seed_operation", "\(decoder.name): \(error)")
        }
        // null members are absent.
        let nullMember =
            #"{"version":1,"command_id":"c","command_type":"COMMAND_PAUSE","seed_operation":null,"circuit_breaker":{"desired_state":"CIRCUIT_STATE_OPEN"}}"#
        for decoder in Decoders.all {
            let command = try decoder.decode(AdaptationCommand.self, nullMember)
            #expect(command.payload == .circuitBreaker(CommandCircuitBreaker(desiredState: .open)), "\(decoder.name)")
        }
    }

    @Test func unknownKeysAreRefusedStrictlyAndReportedLeniently() throws {
        let text = #"{"version":1,"packet_id":"p","colour":"blue","seed_states":[{"seed_id":"s","mood":1}]}"#
        for decoder in Decoders.all {
            #expect(throws: LeylineDecodingError.unknownFields(["colour", "seed_states[0].mood"]), "\(decoder.name)") {
                _ = try decoder.decode(SystemStatePacket.self, text)
            }
            let lenient = try decoder.decode(SystemStatePacket.self, text, strict: false)
            #expect(lenient.seedStates.first?.seedId == "s")
        }
        var ignored: [String] = []
        _ = try LeylineCodec.decode(SystemStatePacket.self, from: Array(text.utf8), strict: false) { ignored = $0 }
        #expect(ignored == ["colour", "seed_states[0].mood"])
    }

    /// Bad documents: both paths give the same reason and name the same field.
    @Test func bothDecodersAgreeOnBadDocuments() throws {
        let cases: [(String, String, String)] = [  // text, reason, field
            (#"{"version":1,"packet_id":"p","current_epoch":-1}"#, "invalid", "current_epoch"),
            (#"{"version":1,"packet_id":"p","current_epoch":4294967296}"#, "invalid", "current_epoch"),
            (#"{"version":1,"packet_id":"p","current_epoch":2.5}"#, "invalid", "current_epoch"),
            (#"{"version":1,"packet_id":7}"#, "invalid", "packet_id"),
            (#"{"version":1,"packet_id":"p","validation_loss":"x"}"#, "invalid", "validation_loss"),
            (#"{"version":1,"packet_id":"p","validation_loss":1e300}"#, "invalid", "validation_loss"),
            (
                #"{"version":1,"packet_id":"p","seed_states":[{"seed_id":"s","gradient_norm":true}]}"#, "invalid",
                "seed_states[0].gradient_norm"
            ),
            (#"{"version":1,"packet_id":"p","seed_states":{"seed_id":"s"}}"#, "invalid", "seed_states"),
            (#"{"version":1,"packet_id":"p","seed_states":[null]}"#, "invalid", "seed_states[0]"),
            (#"{"version":1,"packet_id":"p","training_metrics":{"loss":"high"}}"#, "invalid", "training_metrics.loss"),
            (#"{"version":1,"packet_id":"p","global_step":"12x"}"#, "invalid", "global_step"),
            // Valid JSON whose number no int64 holds: the field refuses it (issue 14's conformance
            // found it answered as malformed JSON).
            (#"{"version":1,"packet_id":"p","global_step":18446744073709551615}"#, "invalid", "global_step"),
            (#"{"version":1,"packet_id":"p","hardware_context":[]}"#, "invalid", "hardware_context"),
            (#"{"version":1,"packet_id":"p","packet_id":"q"}"#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"p"} trailing"#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"p",}"#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"p\u00"}"#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"\ud800"}"#, "malformed_json", ""),
            (#"{"version":"1","packet_id":"p""#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"p","validation_loss":1e400}"#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"p","validation_loss":01}"#, "malformed_json", ""),
            (#"{"version":1,"packet_id":"p","extra":{"a":1,"a":2}}"#, "malformed_json", ""),
            (#"[1,2]"#, "invalid", ""),
            ("", "malformed_json", ""),
            (
                #"{"version":1,"packet_id":"p","extra":"# + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}",
                "malformed_json", ""
            ),
        ]
        for (text, reason, field) in cases {
            for decoder in Decoders.all {
                do {
                    _ = try decoder.decode(SystemStatePacket.self, text, strict: false)
                    Issue.record("\(decoder.name) accepted \(text)")
                } catch {
                    #expect(error.reason == reason, "\(decoder.name) \(text): \(error)")
                    if reason == "invalid" { #expect(error.problems.first?.field == field, "\(decoder.name) \(text): \(error)") }
                }
            }
        }
        // Invalid UTF-8 is not JSON.
        for decoder in [true, false] {
            let bytes: [UInt8] = Array(#"{"version":1,"packet_id":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
            let error = try #require(throws: LeylineDecodingError.self) {
                _ =
                    decoder
                    ? try LeylineCodec.decode(SystemStatePacket.self, from: bytes)
                    : try LeylineCodec.decodeWithJansson(SystemStatePacket.self, from: bytes)
            }
            #expect(error.reason == "malformed_json")
        }
    }

    @Test func oversizedDocumentsAreRefusedBeforeParsing() {
        let big = [UInt8](repeating: 0x20, count: SystemLimits.standard.maxEnvelopeBytes + 1)
        #expect(throws: LeylineDecodingError.tooLarge(bytes: big.count, limit: SystemLimits.standard.maxEnvelopeBytes)) {
            _ = try LeylineCodec.decode(BusEnvelope.self, from: big)
        }
    }
}
