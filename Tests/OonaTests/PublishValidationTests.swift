import EsperJSON
import EsperTestSupport
import Leyline
import Oona
import Testing

/// Every kind of Leyline rule, broken by one message, is refused on the publish path — alone
/// and inside a batch (nothing of the batch is written) — with the problems `LeylineValidator`
/// reports, word for word: the field tables write and check nested messages, arrays, maps,
/// timestamps and durations in place, and no rule may be lost on the way.
@Suite(.serialized) struct PublishValidationTests {
    struct Case: Sendable {
        let rule: String
        let message: BusMessage
        var options = PublishOptions()
        /// (field, message) as the validator words them.
        let problems: [(String, String)]
    }

    static var cases: [Case] {
        var cases: [Case] = []
        func state(_ change: (inout SystemStatePacket) -> Void) -> BusMessage {
            var packet = Fixtures.eightSeeds
            change(&packet)
            return .systemState(packet)
        }
        func telemetry(_ change: (inout TelemetryPacket) -> Void) -> BusMessage {
            var packet = Fixtures.telemetry
            change(&packet)
            return .telemetry(packet)
        }
        cases.append(
            Case(
                rule: "identifier (empty)", message: telemetry { $0.packetId = "" },
                problems: [("payload.packet_id", "is required and must not be empty")]))
        cases.append(
            Case(
                rule: "identifier (too long)", message: state { $0.packetId = String(repeating: "p", count: 300) },
                problems: [("payload.packet_id", "is 300 bytes; at most 256 allowed")]))
        cases.append(
            Case(
                rule: "identifier in an array element", message: telemetry { $0.metrics[1].name = "a\u{1}b" },
                problems: [("payload.metrics[1].name", "must not contain control characters")]))
        cases.append(
            Case(
                rule: "optional identifier", message: state { $0.trainingRunId = "run\ndemo" },
                problems: [("payload.training_run_id", "must not contain control characters")]))
        cases.append(
            Case(
                rule: "optional identifier (envelope)", message: Fixtures.allMessages[0],
                options: PublishOptions(source: "tol\u{7F}aria"),
                problems: [("source_subsystem", "must not contain control characters")]))
        cases.append(
            Case(
                rule: "version", message: state { $0.version = 2 },
                problems: [("payload.version", "unsupported version 2; only version 1 is accepted")]))
        cases.append(
            Case(
                rule: "finite", message: state { $0.validationLoss = .nan },
                problems: [("payload.validation_loss", "nan is not a finite number")]))
        cases.append(
            Case(
                rule: "finite (double, array element)", message: telemetry { $0.metrics[0].value = .infinity },
                problems: [("payload.metrics[0].value", "inf is not a finite number")]))
        cases.append(
            Case(
                rule: "range (array element)", message: state { $0.seedStates[2].riskScore = 1.5 },
                problems: [("payload.seed_states[2].risk_score", "1.5 is outside 0.0...1.0")]))
        cases.append(
            Case(
                rule: "range (nested message)", message: state { $0.hardwareContext.temperatureCelsius = 2000 },
                problems: [("payload.hardware_context.temperature_celsius", "2000.0 is outside -273.15...1000.0")]))
        var command = Fixtures.adaptationCommand
        command.commandType = .unknown
        cases.append(
            Case(
                rule: "known enum", message: .adaptationCommand(command),
                problems: [("payload.command_type", "must be set (not COMMAND_UNKNOWN)")]))
        var seedCommand = Fixtures.adaptationCommand
        seedCommand.targetSeedId = ""
        cases.append(
            Case(
                rule: "a message's own rule", message: .adaptationCommand(seedCommand),
                problems: [("payload.target_seed_id", "is required for COMMAND_SEED")]))
        cases.append(
            Case(
                rule: "a field's own rule", message: state { $0.seedStates = Array(repeating: $0.seedStates[0], count: 101) },
                problems: [("payload.seed_states", "has 101 seeds; at most 100 allowed")]))
        cases.append(
            Case(
                rule: "at least one (envelope)", message: Fixtures.allMessages[3], options: PublishOptions(ttl: .zero),
                problems: [("ttl", "must be positive")]))
        cases.append(
            Case(
                rule: "duration (envelope)", message: Fixtures.allMessages[3], options: PublishOptions(ttl: .seconds(-5)),
                problems: [("ttl", "must not be negative")]))
        cases.append(
            Case(
                rule: "timestamp", message: telemetry { $0.timestamp = LeylineTimestamp(seconds: 300_000_000_000) },
                problems: [("payload.timestamp", "timestamp outside 0001-01-01..9999-12-31")]))
        cases.append(
            Case(
                rule: "label keys (envelope)", message: Fixtures.allMessages[3], options: PublishOptions(attributes: ["": "x"]),
                problems: [("attributes", "keys must not be empty")]))
        cases.append(
            Case(
                rule: "label keys (array element)", message: telemetry { $0.events[0].attributes = ["": "x"] },
                problems: [("payload.events[0].attributes", "keys must not be empty")]))
        cases.append(
            Case(
                rule: "metric map values", message: state { $0.trainingMetrics["loss"] = .nan },
                problems: [("payload.training_metrics.loss", "nan is not a finite number")]))
        cases.append(
            Case(
                rule: "metric map keys (nested array element)", message: state { $0.seedStates[7].metrics = ["": 1] },
                problems: [("payload.seed_states[7].metrics", "keys must not be empty")]))
        var span = TraceSpan(
            spanId: "span-1", name: "step", startTime: LeylineTimestamp(seconds: 1_758_000_010),
            endTime: LeylineTimestamp(seconds: 1_758_000_000))
        span.attributes = ["k": "v"]
        cases.append(
            Case(
                rule: "a nested message's own rule", message: telemetry { $0.spans = [span] },
                problems: [("payload.spans[0].end_time", "is before start_time")]))
        cases.append(
            Case(
                rule: "several at once, in declaration order",
                message: state {
                    $0.validationAccuracy = 2
                    $0.seedStates[1].gradientNorm = -1
                    $0.seedStates[1].seedId = ""
                    $0.packetId = ""
                },
                problems: [
                    ("payload.validation_accuracy", "2.0 is outside 0.0...1.0"),
                    ("payload.seed_states[1].seed_id", "is required and must not be empty"),
                    ("payload.seed_states[1].gradient_norm", "-1.0 is outside 0.0...3.4028234663852886e+38"),
                    ("payload.packet_id", "is required and must not be empty"),
                ]))
        return cases
    }

    @Test func everyRuleKindIsRefusedOnThePublishPath() throws {
        let bus = try TestBus()
        for item in PublishValidationTests.cases {
            let expected = item.problems.map { JSONFieldProblem(field: $0.0, message: $0.1) }
            let single = try #require(throws: OonaError.self, "\(item.rule)") {
                try bus.client.publish(item.message, options: item.options)
            }
            #expect(single == .invalidMessage(expected), "\(item.rule)")
            // In a batch, after a valid message: the whole batch is refused, the problems
            // named by the message's index.
            let batch: [(BusMessage, PublishOptions)] = [(Fixtures.allMessages[3], PublishOptions()), (item.message, item.options)]
            let batchError = try #require(throws: OonaError.self, "\(item.rule)") { try bus.client.publish(batch: batch) }
            #expect(
                batchError == .invalidMessage(expected.map { JSONFieldProblem(field: "[1].\($0.field)", message: $0.message) }),
                "\(item.rule)")
        }
        for stream in [OonaStream.normal, .telemetry, .policy, .emergency] { #expect(try bus.length(stream) == 0, "\(stream)") }
    }

    /// The same messages with the rule kept are published (the cases break only what they say).
    @Test func theValidTwinsArePublished() throws {
        let bus = try TestBus()
        let messages = Fixtures.allMessages + [.systemState(Fixtures.eightSeeds)]
        let outcomes = try bus.client.publish(batch: messages.map { ($0, PublishOptions()) })
        #expect(outcomes.allSatisfy { $0.wasPublished })
    }
}
