import EsperJSON
import EsperTestSupport
import Foundation
import Leyline
import Testing

@Suite struct ContractTests {
    @Test func defaultBundleIsRegisteredAndItsSchemaExists() throws {
        let bundle = try #require(Leyline.bundle(named: "leyline-core"))
        #expect(bundle.version == "v1alpha1")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(bundle.schemaLocation).path))
    }

    @Test func telemetryHelperFillsDefaults() {
        let packet = Fixtures.telemetry
        #expect(packet.sourceSubsystem == "tolaria")
        #expect(packet.metrics.count == 4)
        #expect(packet.events.first?.description == "seed_operation")
        #expect(packet.events.first?.eventId == "evt-1")
        #expect(packet.events.first?.level == .info)
        #expect(packet.systemHealth == SystemHealth(status: .healthy, summary: "stable", indicators: ["epoch": "3"]))
        let bare = TelemetryPacket.build(
            packetId: "p", source: "kasmina", level: .warning, metrics: [],
            events: [TelemetryEvent(description: "a"), TelemetryEvent(eventId: "x", description: "b", level: .error)])
        #expect(bare.events.map(\.eventId) == ["evt-1", "x"])
        #expect(bare.events.map(\.level) == [.info, .error])
        #expect(bare.systemHealth.status == .healthy)
    }

    @Test func memoryBudgetsSumToAtMostOne() throws {
        try MemoryBudgets.standard.checkSum()
        #expect(abs(MemoryBudgets.standard.total - 1.0) < 1e-9)
        // The design table as written (checkpoints 0.08) sums to 1.05 and must be refused.
        let design = MemoryBudgets(
            modelPercent: 0.40, optimizerPercent: 0.25, gradientsPercent: 0.15, checkpointsPercent: 0.08,
            telemetryPercent: 0.05, morphogeneticPercent: 0.05, emergencyPercent: 0.02,
            importanceStatisticsPercent: 0.03, pruningMetadataPercent: 0.02)
        let error = try #require(throws: MemoryBudgets.SumError.self) { try design.checkSum() }
        #expect(error.description.contains("1.05"))
        let negative = MemoryBudgets(
            modelPercent: -0.1, optimizerPercent: 0, gradientsPercent: 0, checkpointsPercent: 0,
            telemetryPercent: 0, morphogeneticPercent: 0, emergencyPercent: 0,
            importanceStatisticsPercent: 0, pruningMetadataPercent: 0)
        #expect(negative.problems.map(\.field) == ["model_percent"])
    }

    @Test func constantsMatchTheDesignTable() {
        #expect(PerformanceBudgets.standard.epochBoundaryMs == 18)
        #expect(PerformanceBudgets.standard.breakerResetSeconds == 30)
        #expect(SystemLimits.standard.maxQueueDepth == 10_000)
        #expect(SystemLimits.standard.maxRetryAttempts == 3)
        #expect(SystemLimits.standard.maxEnvelopeBytes == 262_144)
        let json = String(decoding: try! JanssonEncoder().encode(PerformanceBudgets.standard), as: UTF8.self)
        #expect(json.contains(#""checkpoint_analysis_minutes_max":5"#))
    }

    @Test func timestampsAreRFC3339UTC() throws {
        #expect(LeylineTimestamp(seconds: 0).rfc3339 == "1970-01-01T00:00:00Z")
        #expect(LeylineTimestamp(seconds: 1_758_000_000, nanos: 250_000_000).rfc3339 == "2025-09-16T05:20:00.250Z")
        #expect(LeylineTimestamp(seconds: 951_782_400, nanos: 1_000).rfc3339 == "2000-02-29T00:00:00.000001Z")
        #expect(LeylineTimestamp(seconds: -1, nanos: 5).rfc3339 == "1969-12-31T23:59:59.000000005Z")
        #expect(LeylineTimestamp(seconds: LeylineTimestamp.maxSeconds).rfc3339 == "9999-12-31T23:59:59Z")
        #expect(LeylineTimestamp(seconds: LeylineTimestamp.minSeconds).rfc3339 == "0001-01-01T00:00:00Z")
        #expect(
            try LeylineTimestamp(rfc3339: "2025-09-16T07:20:00.25+02:00") == LeylineTimestamp(seconds: 1_758_000_000, nanos: 250_000_000))
        #expect(try LeylineTimestamp(rfc3339: "2000-02-29T00:00:00.000001z").nanos == 1_000)
        for bad in [
            "2025-02-29T00:00:00Z", "2025-09-16 07:20", "2025-09-16T07:20:00", "2025-13-01T00:00:00Z",
            "2025-09-16T24:00:00Z", "2025-09-16T07:20:00.1234567891Z", "2025-09-16T07:20:00.Z", "x",
        ] {
            #expect(throws: LeylineTimestamp.ParseError.self, "\(bad)") { _ = try LeylineTimestamp(rfc3339: bad) }
        }
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<2000 {
            let value = LeylineTimestamp(
                seconds: Int64.random(in: LeylineTimestamp.minSeconds...LeylineTimestamp.maxSeconds, using: &rng),
                nanos: Int32.random(in: 0..<1_000_000_000, using: &rng))
            #expect(try LeylineTimestamp(rfc3339: value.rfc3339) == value)
        }
    }

    @Test func durationsUseTheProto3Form() throws {
        #expect(LeylineDuration(seconds: 0, nanos: 500_000_000).text == "0.500s")
        #expect(LeylineDuration(seconds: 3600).text == "3600s")
        #expect(LeylineDuration(seconds: -1, nanos: -250_000_000).text == "-1.250s")
        #expect(LeylineDuration(seconds: 1, nanos: 1).text == "1.000000001s")
        #expect(try LeylineDuration(text: "0.5s") == LeylineDuration(seconds: 0, nanos: 500_000_000))
        #expect(try LeylineDuration(text: "-3s") == LeylineDuration(seconds: -3))
        for bad in ["5", "s", ".5s", "1.s", "1.0000000001s", "--1s", "1e3s", "999999999999s"] {
            #expect(throws: LeylineDuration.ParseError.self, "\(bad)") { _ = try LeylineDuration(text: bad) }
        }
        #expect(LeylineDuration.milliseconds(1500) == LeylineDuration(seconds: 1, nanos: 500_000_000))
    }

    @Test func bytesAreStandardPaddedBase64() throws {
        #expect(Base64.encode(Array("".utf8)) == "")
        #expect(Base64.encode(Array("f".utf8)) == "Zg==")
        #expect(Base64.encode(Array("fo".utf8)) == "Zm8=")
        #expect(Base64.encode(Array("foobar".utf8)) == "Zm9vYmFy")
        #expect(Base64.decode("Zm9vYg==") == Array("foob".utf8))
        for bad in ["Zg=", "Zh==", "Zm9v!", "Zm=v", "===="] { #expect(Base64.decode(bad) == nil, "\(bad)") }
        var rng = SeededGenerator(seed: 3)
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
        }
        let text = String(decoding: try LeylineCodec.encode(Fixtures.policyUpdate), as: UTF8.self)
        #expect(text.contains(#""payload":"AAEC+v8=""#))
    }
}
