import EsperJSON
import EsperTestSupport
import Leyline
import Testing

/// SplitMix64: a small seeded generator, so a failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct PropertyTests {
    static let catalogue = [
        "tolaria.training.loss", "tolaria.training.accuracy", "tolaria.training.latency_ms",
        "tolaria.seeds.active", "kasmina.seeds.active", "kasmina.isolation.violations",
        "tamiyo.validation_loss", "tamiyo.loss_delta", "tamiyo.inference.latency_ms",
    ]
    static let units = ["loss", "ms", "count", "ratio", "bool", "delta"]

    /// The reference property: 1-4 catalogue metrics with finite values in [-10 000, 10 000]
    /// and units from a fixed set survive a round trip in order.
    @Test(arguments: [UInt64(1), 7, 42, 2025, 0xDEADBEEF])
    func telemetryMetricsSurviveInOrder(seed: UInt64) throws {
        var rng = SeededGenerator(seed: seed)
        for _ in 0..<200 {
            let metrics = (0..<Int.random(in: 1...4, using: &rng)).map { _ in
                MetricPoint(
                    name: PropertyTests.catalogue.randomElement(using: &rng)!,
                    value: Double.random(in: -10_000...10_000, using: &rng),
                    unit: PropertyTests.units.randomElement(using: &rng)!)
            }
            let packet = TelemetryPacket.build(
                packetId: "p", source: "tolaria", level: .info, metrics: metrics,
                timestamp: LeylineTimestamp(seconds: 1_758_000_000))
            let bytes = try LeylineCodec.encode(packet)
            #expect(bytes == (try LeylineCodec.encodeWithJansson(packet)), "seed \(seed)")
            let decoded = try LeylineCodec.decode(TelemetryPacket.self, from: bytes)
            #expect(decoded.metrics == metrics, "seed \(seed)")
            #expect(try LeylineCodec.decodeWithJansson(TelemetryPacket.self, from: bytes).metrics == metrics, "seed \(seed)")
        }
    }

    static func randomFloat(_ rng: inout SeededGenerator) -> Float {
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: Float.random(in: 0...1, using: &rng)
        case 1: Float.random(in: -1e6...1e6, using: &rng)
        case 2: Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng) & 0x7F7F_FFFF)  // any finite
        default: Float(Int.random(in: -100...100, using: &rng))
        }
    }

    static func randomString(_ rng: inout SeededGenerator) -> String {
        let pieces = ["a", "seed", "-", "_", "é", "🚀", "\"", "\\", "\n", "\u{1}", "\u{7F}", "Z", "0"]
        return (0..<Int.random(in: 0...6, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
    }

    /// Random state packets, commands and telemetry: the direct writer matches JanssonEncoder
    /// byte for byte and both readers return the original.
    @Test func directAndJanssonPathsAgreeOnRandomMessages() throws {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<300 {
            let seeds = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                SeedState(
                    seedId: PropertyTests.randomString(&rng), stage: SeedLifecycleStage.allCases.randomElement(using: &rng)!,
                    gradientNorm: PropertyTests.randomFloat(&rng), learningRate: PropertyTests.randomFloat(&rng),
                    layerDepth: UInt32.random(in: 0...UInt32.max, using: &rng),
                    metrics: [PropertyTests.randomString(&rng): PropertyTests.randomFloat(&rng)],
                    ageEpochs: UInt32.random(in: 0...100, using: &rng), riskScore: PropertyTests.randomFloat(&rng))
            }
            let packet = SystemStatePacket(
                currentEpoch: UInt32.random(in: 0...UInt32.max, using: &rng), validationAccuracy: PropertyTests.randomFloat(&rng),
                validationLoss: PropertyTests.randomFloat(&rng), timestampNs: UInt64.random(in: 0...UInt64(Int64.max), using: &rng),
                hardwareContext: HardwareContext(
                    deviceType: PropertyTests.randomString(&rng), totalMemoryGb: PropertyTests.randomFloat(&rng)),
                trainingMetrics: [PropertyTests.randomString(&rng): PropertyTests.randomFloat(&rng), "x": PropertyTests.randomFloat(&rng)],
                seedStates: seeds, packetId: PropertyTests.randomString(&rng), globalStep: UInt64.random(in: 0...1 << 62, using: &rng),
                trainingLoss: PropertyTests.randomFloat(&rng))
            let command = AdaptationCommand(
                commandId: PropertyTests.randomString(&rng), commandType: CommandType.allCases.randomElement(using: &rng)!,
                issuedAt: LeylineTimestamp(
                    seconds: Int64.random(in: LeylineTimestamp.minSeconds...LeylineTimestamp.maxSeconds, using: &rng),
                    nanos: Int32.random(in: 0..<1_000_000_000, using: &rng)),
                payload: [
                    nil, .circuitBreaker(CommandCircuitBreaker(desiredState: .open, rationale: PropertyTests.randomString(&rng))),
                    .rollbackPayload(["k": .array([1, 2.5, "x", nil, ["n": true]])]),
                ].randomElement(using: &rng)!,
                annotations: [PropertyTests.randomString(&rng): PropertyTests.randomString(&rng)])
            for envelope in [Fixtures.envelope(.systemState(packet)), Fixtures.envelope(.adaptationCommand(command))] {
                let direct = try LeylineCodec.encode(envelope)
                #expect(direct == (try LeylineCodec.encodeWithJansson(envelope)))
                // Decoding without validation: random values may break ranges.
                let viaDirect = try LeylineCodec.parse(BusEnvelope.self, from: direct).value
                let viaJansson = try JanssonDecoder().decode(BusEnvelope.self, from: direct)
                #expect(viaDirect == envelope)
                #expect(viaJansson == envelope)
            }
        }
    }
}
