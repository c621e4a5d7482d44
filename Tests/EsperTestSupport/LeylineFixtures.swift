import EsperJSON
import Leyline

/// The reference test fixtures of `00-contracts.md` §7, shared by the Leyline, Oona and server
/// tests.
public enum Fixtures {
    public static let systemState = SystemStatePacket(
        version: 1, currentEpoch: 3, validationAccuracy: 0.82, validationLoss: 0.123, timestampNs: 1_758_000_000_000_000_000,
        hardwareContext: HardwareContext(deviceType: "cuda", deviceId: "0"),
        trainingMetrics: ["loss": 0.456, "grad_norm": 0.12],
        seedStates: [
            SeedState(
                seedId: "seed-1", stage: .training, gradientNorm: 0.18, learningRate: 0.002,
                metrics: ["loss": 0.321], ageEpochs: 4, riskScore: 0.1)
        ],
        packetId: "run-epoch-3", globalStep: 1024, trainingLoss: 0.456, sourceSubsystem: "tolaria",
        trainingRunId: "run-demo", experimentName: "demo")

    public static let adaptationCommand = AdaptationCommand(
        version: 1, commandId: "cmd-1", commandType: .seed, targetSeedId: "seed-1", executionDeadlineMs: 250,
        issuedAt: LeylineTimestamp(seconds: 1_758_000_000), issuedBy: "tamiyo",
        payload: .seedOperation(CommandSeedOperation(operation: .germinate, blueprintId: "bp-demo", parameters: ["alpha": 0.5])),
        annotations: ["risk": "low"])

    public static let fieldReport = FieldReport(
        version: 1, reportId: "fr-1", commandId: "cmd-1", trainingRunId: "run-demo", seedId: "seed-1", blueprintId: "bp-demo",
        outcome: .success, metrics: ["loss_delta": -0.05], observationWindowEpochs: 1,
        issuedAt: LeylineTimestamp(seconds: 1_758_000_100), tamiyoPolicyVersion: "policy-stub",
        followUpActions: [MitigationAction(actionType: "CONSERVATIVE_MODE", rationale: "loss rose")])

    public static let telemetry = TelemetryPacket.build(
        packetId: "tele-1", source: "tolaria", level: .info,
        metrics: [
            MetricPoint(name: "tolaria.training.loss", value: 0.456, unit: "loss"),
            MetricPoint(name: "tolaria.training.accuracy", value: 0.82, unit: "ratio"),
            MetricPoint(name: "tolaria.training.latency_ms", value: 12.5, unit: "ms"),
            MetricPoint(name: "tolaria.seeds.active", value: 1, unit: "count"),
        ],
        events: [TelemetryEvent(description: "seed_operation", attributes: ["seed_id": "seed-1"])],
        healthStatus: .healthy, healthSummary: "stable", healthIndicators: ["epoch": "3"],
        timestamp: LeylineTimestamp(seconds: 1_758_000_000, nanos: 250_000_000))

    public static let blueprint = BlueprintDescriptor(
        blueprintId: "bp-42", name: "residual-adapter", tier: .experimental,
        allowedParameters: ["alpha": BlueprintParameterBounds(minValue: 0.1, maxValue: 0.9)], risk: 0.75, stage: 4,
        quarantineOnly: false, approvalRequired: true, description: "a test blueprint")

    public static let policyUpdate = PolicyUpdate(
        version: 1, policyId: "policy-7", trainingRunId: "run-demo", issuedAt: LeylineTimestamp(seconds: 1_758_000_200),
        tamiyoPolicyVersion: "policy-stub", payload: LeylineBytes([0, 1, 2, 250, 255]))

    /// A state packet with eight seeds — the benchmark's "typical" packet.
    public static let eightSeeds: SystemStatePacket = {
        var packet = systemState
        packet.seedStates = (0..<8).map { index in
            SeedState(
                seedId: "seed-\(index)", stage: .training, gradientNorm: 0.18, learningRate: 0.002, layerDepth: UInt32(index),
                metrics: ["loss": 0.321], ageEpochs: 4, riskScore: 0.1)
        }
        return packet
    }()

    public static func envelope(_ message: BusMessage) -> BusEnvelope {
        BusEnvelope(
            message: message, eventId: "evt-\(message.messageType.label)", createdAt: LeylineTimestamp(seconds: 1_758_000_000),
            sourceSubsystem: "tolaria", attributes: ["origin": "unit-test"])
    }

    public static let allMessages: [BusMessage] = [
        .systemState(systemState), .adaptationCommand(adaptationCommand), .fieldReport(fieldReport),
        .telemetry(telemetry), .policyUpdate(policyUpdate),
    ]
}
