import EsperJSON
import EsperTestSupport
import Leyline
import Testing

/// The field tables write enum fields from a table of their quoted names (by stored byte),
/// check their `known` rule in place, and put a map's entries in key order on the stack; the
/// publish path reuses one validator for a whole batch. The bytes and the problems must be
/// what the reference path (JanssonEncoder, a fresh validator) gives, on every enum value and
/// on maps of every size.
@Suite struct InPlaceEncodingTests {
    static func key(_ rng: inout SeededGenerator) -> String {
        let pieces = ["a", "b", "loss", "_", "é", "🚀", "\"", "\\", "\n", "\u{1}", "Z", "0", "a0", "aa", ""]
        return (0..<Int.random(in: 1...3, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
    }

    static func floatMap(_ count: Int, _ rng: inout SeededGenerator) -> [String: Float] {
        var map: [String: Float] = [:]
        while map.count < count { map[key(&rng)] = Float(bitPattern: UInt32.random(in: 0...0x7F7F_FFFF, using: &rng)) }
        return map
    }

    static func labels(_ count: Int, _ rng: inout SeededGenerator) -> [String: String] {
        var map: [String: String] = [:]
        while map.count < count { map[key(&rng)] = key(&rng) }
        return map
    }

    static func expectReferenceBytes<T: LeylineMessage>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let direct = try LeylineCodec.encode(value)
        #expect(direct == (try LeylineCodec.encodeWithJansson(value)), sourceLocation: sourceLocation)
        #expect(try LeylineCodec.parse(T.self, from: direct).value == value, sourceLocation: sourceLocation)
    }

    /// Strings are scanned for bytes to escape 8 bytes at a time: every byte that needs an
    /// escape (and its neighbours that do not: 0x1F/0x20, 0x21/0x23, 0x5B/0x5D, 0x7E/0x80, UTF-8
    /// lead and continuation bytes), at every position of strings of 0 to 40 bytes, in a
    /// string field, a nested message's, a map key and value, gives the reference bytes.
    @Test func escapesAreFoundAtEveryPositionOfAWord() throws {
        let probes: [String] =
            (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + [
                "\u{7F}", "\"", "\\", " ", "!", "#", "[", "]", "~", "é", "🚀", "\u{80}", "\u{FFFF}",
            ]
        for length in 0...40 {
            for position in 0..<max(length, 1) {
                for probe in probes {
                    let prefix = String(repeating: "a", count: min(position, length))
                    let suffix = String(repeating: "z", count: max(0, length - position - 1))
                    let text = length == 0 ? "" : prefix + probe + suffix
                    var packet = Fixtures.telemetry
                    packet.packetId = text
                    packet.metrics[0].unit = text
                    packet.systemHealth.summary = text
                    // (A NUL in an object key does not read back: jansson refuses it.)
                    packet.events[0].attributes = [probe == "\u{0}" ? "key" : text: text]
                    try InPlaceEncodingTests.expectReferenceBytes(packet)
                }
            }
        }
    }

    /// Maps of 0 to 20 entries (the sort on the stack covers 2–16, larger ones take the array
    /// of keys), keys that sort by bytes rather than by characters, in every map field kind.
    @Test func mapsOfEverySizeAreWrittenInKeyOrder() throws {
        var rng = SeededGenerator(seed: 20_261_207)
        for round in 0..<400 {
            let size = round % 21
            var packet = Fixtures.eightSeeds
            packet.trainingMetrics = InPlaceEncodingTests.floatMap(size, &rng)
            packet.seedStates[round % 8].metrics = InPlaceEncodingTests.floatMap((size * 7) % 21, &rng)
            var telemetry = Fixtures.telemetry
            telemetry.metrics[0].attributes = InPlaceEncodingTests.labels(size, &rng)
            telemetry.systemHealth.indicators = InPlaceEncodingTests.labels((size * 3) % 21, &rng)
            for message in [BusMessage.systemState(packet), .telemetry(telemetry)] {
                var envelope = Fixtures.envelope(message)
                envelope.attributes = InPlaceEncodingTests.labels((size * 5) % 21, &rng)
                try InPlaceEncodingTests.expectReferenceBytes(envelope)
            }
        }
    }

    /// Every value of every enum field the bus writes, alone and next to its neighbours.
    @Test func everyEnumValueIsWrittenByName() throws {
        for stage in SeedLifecycleStage.allCases {
            var packet = Fixtures.eightSeeds
            packet.seedStates[3].stage = stage
            try InPlaceEncodingTests.expectReferenceBytes(Fixtures.envelope(.systemState(packet)))
        }
        for level in TelemetryLevel.allCases {
            for status in HealthStatus.allCases {
                var telemetry = Fixtures.telemetry
                telemetry.level = level
                telemetry.systemHealth.status = status
                try InPlaceEncodingTests.expectReferenceBytes(Fixtures.envelope(.telemetry(telemetry)))
            }
        }
        for priority in MessagePriority.allCases {
            var envelope = Fixtures.envelope(.fieldReport(Fixtures.fieldReport))
            envelope.priority = priority
            try InPlaceEncodingTests.expectReferenceBytes(envelope)
        }
        for type in CommandType.allCases {
            var command = Fixtures.adaptationCommand
            command.commandType = type
            try InPlaceEncodingTests.expectReferenceBytes(Fixtures.envelope(.adaptationCommand(command)))
        }
        for outcome in FieldReportOutcome.allCases {
            var report = Fixtures.fieldReport
            report.outcome = outcome
            try InPlaceEncodingTests.expectReferenceBytes(report)
        }
    }

    /// The `known` rule checked in place reports what `LeylineValidator.known` does, under
    /// the field's path, and only for the 0 value.
    @Test func knownRuleReportsTheUnsetValue() {
        for type in CommandType.allCases {
            var command = Fixtures.adaptationCommand
            command.commandType = type
            var expected = LeylineValidator()
            expected.nested("payload") { (validator: inout LeylineValidator) in validator.known("command_type", type) }
            let problems = Fixtures.envelope(.adaptationCommand(command)).validationProblems()
            #expect(problems.filter { $0.field == "payload.command_type" } == expected.problems, "\(type)")
            if type.rawValue == 0 {
                #expect(problems.contains(JSONFieldProblem(field: "payload.command_type", message: "must be set (not COMMAND_UNKNOWN)")))
            }
        }
        for outcome in FieldReportOutcome.allCases {
            var report = Fixtures.fieldReport
            report.outcome = outcome
            var expected = LeylineValidator()
            expected.known("outcome", outcome)
            #expect(report.validationProblems().filter { $0.field == "outcome" } == expected.problems, "\(outcome)")
        }
    }

    /// A validator reused across a batch (`check(_:reusing:)`) reports each message as a
    /// fresh one does: nothing carried over from an invalid message before it, including
    /// the unsupported version and the path it was at.
    @Test func reusedValidatorReportsEachMessageAlone() throws {
        var badVersion = Fixtures.systemState
        badVersion.version = 7
        var badRisk = Fixtures.eightSeeds
        badRisk.seedStates[2].riskScore = 3
        var badCommand = Fixtures.adaptationCommand
        badCommand.commandType = .unknown
        let messages: [BusMessage] =
            [.systemState(badVersion), .systemState(badRisk)] + Fixtures.allMessages + [.adaptationCommand(badCommand)]
            + Fixtures.allMessages
        var validator = LeylineValidator()
        for message in messages {
            let envelope = Fixtures.envelope(message)
            let fresh = Result { () throws(LeylineDecodingError) in try LeylineCodec.check(envelope) }
            let reused = Result { () throws(LeylineDecodingError) in try LeylineCodec.check(envelope, reusing: &validator) }
            switch (fresh, reused) {
            case (.success, .success): break
            case (.failure(let a), .failure(let b)): #expect(a == b)
            default: Issue.record("fresh \(fresh) vs reused \(reused) for \(message.messageType)")
            }
        }
    }
}

extension LeylineValidator {
    /// Runs `body` under `field` (as `nested` does for a message).
    fileprivate mutating func nested(_ field: String, _ body: @escaping (inout LeylineValidator) -> Void) {
        nested(field, Checks(body: body))
    }
}

private struct Checks: LeylineValidatable {
    let body: (inout LeylineValidator) -> Void
    func validate(_ validator: inout LeylineValidator) { body(&validator) }
}
