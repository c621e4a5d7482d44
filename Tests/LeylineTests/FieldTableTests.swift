import EsperJSON
import EsperTestSupport
import Testing

@testable import Leyline

/// Each message's field table is the one declaration of its fields. These tests take every
/// field of every table alone (the table's defaults plus that one field from a sample) and
/// check that each path carries it: the direct writer and JanssonEncoder write the same bytes
/// with that key, and the direct reader and JanssonDecoder both give the value back. A field
/// one path dropped or named differently fails here.
@Suite struct FieldTableTests {
    static let time = LeylineTimestamp(seconds: 1_758_000_000, nanos: 5_000_000)
    static let step: PolicyStep = {
        var step = PolicyStep(
            epoch: 1, action: 1, validActions: 3, features: [1, -0.5], stageIndex: 1, blueprintIndex: 2, logits: [0.5])
        // A germination's choice among the open slots and candidates.
        step.slotFeatures = [0.25, 1]
        step.openSlots = 1
        step.chosenSlot = 1
        step.candidateIndices = [7]
        step.candidateSlots = [0]
        step.candidateFeatures = [0.1, 1]
        step.chosenCandidate = 1
        return step
    }()

    /// Every field of `M` travels alone through every path, for each sample that sets it; every
    /// field is set by at least one sample.
    func everyFieldTravelsAlone<M: LeylineMessage>(
        _ samples: [M], base: M = M.fields.defaults, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        for field in M.fields.fields {
            var carried = 0
            for sample in samples {
                var single = base
                field.copy(&single, sample)
                guard single != base else { continue }
                carried += 1
                let direct = try LeylineCodec.encode(single)
                #expect(direct == (try LeylineCodec.encodeWithJansson(single)), "\(M.self).\(field.key)", sourceLocation: sourceLocation)
                let keys = try #require(try JSONValue.parse(direct).objectValue, sourceLocation: sourceLocation).keys
                #expect(keys.contains(field.key), "\(M.self).\(field.key) is not written", sourceLocation: sourceLocation)
                #expect(Set(keys).isSubset(of: M.fields.names), "\(M.self): \(keys.sorted())", sourceLocation: sourceLocation)
                #expect(
                    try LeylineCodec.parse(M.self, from: direct).value == single, "\(M.self).\(field.key)", sourceLocation: sourceLocation)
                #expect(
                    try JanssonDecoder(rejectUnknownKeys: true).decode(M.self, from: direct) == single, "\(M.self).\(field.key)",
                    sourceLocation: sourceLocation)
            }
            #expect(carried > 0, "no sample sets \(M.self).\(field.key)", sourceLocation: sourceLocation)
        }
    }

    @Test func stateAndTelemetryFields() throws {
        try everyFieldTravelsAlone([Fixtures.systemState])
        try everyFieldTravelsAlone([
            SeedState(
                seedId: "s", stage: .training, gradientNorm: 0.5, learningRate: 0.01, layerDepth: 2, metrics: ["loss": 1],
                ageEpochs: 3, riskScore: 0.2)
        ])
        try everyFieldTravelsAlone([
            HardwareContext(
                deviceType: "cpu", deviceId: "0", totalMemoryGb: 8, availableMemoryGb: 4, temperatureCelsius: 40,
                utilizationPercent: 50, computeCapability: 86)
        ])
        var telemetry = Fixtures.telemetry
        telemetry.spans = [TraceSpan(spanId: "span-1", startTime: FieldTableTests.time)]
        try everyFieldTravelsAlone([telemetry])
        try everyFieldTravelsAlone([MetricPoint(name: "m", value: 1.5, unit: "ms", attributes: ["a": "b"])])
        try everyFieldTravelsAlone([TelemetryEvent(eventId: "e", description: "d", level: .warning, attributes: ["a": "b"])])
        try everyFieldTravelsAlone([
            TraceSpan(
                spanId: "s", parentSpanId: "p", name: "n", startTime: FieldTableTests.time,
                endTime: FieldTableTests.time.adding(.milliseconds(5)), attributes: ["a": "b"])
        ])
        try everyFieldTravelsAlone([SystemHealth(status: .degraded, summary: "slow", indicators: ["a": "b"])])
    }

    @Test func commandFieldsAndEveryOneofMember() throws {
        let members: [CommandPayload] = [
            .seedOperation(CommandSeedOperation(operation: .germinate, blueprintId: "bp", parameters: ["alpha": 0.5])),
            .optimizerAdjustment(CommandOptimizerAdjustment(optimizerId: "adam", hyperparameters: ["lr": 0.1])),
            .circuitBreaker(CommandCircuitBreaker(desiredState: .open, rationale: "r")),
            .rollbackPayload(["epoch": 3, "reason": "loss"]),
        ]
        try everyFieldTravelsAlone(
            members.map { member in
                var command = Fixtures.adaptationCommand
                command.payload = member
                return command
            })
        try everyFieldTravelsAlone([CommandSeedOperation(operation: .germinate, blueprintId: "bp", parameters: ["alpha": 0.5])])
        try everyFieldTravelsAlone([CommandOptimizerAdjustment(optimizerId: "adam", hyperparameters: ["lr": 0.1])])
        try everyFieldTravelsAlone([CommandCircuitBreaker(desiredState: .open, rationale: "r")])
    }

    @Test func reportPolicyAndBlueprintFields() throws {
        var report = Fixtures.fieldReport
        report.notes = "n"
        report.trajectory = [FieldTableTests.step]
        report.family = "widening"
        report.cullReason = "no_improvement"
        try everyFieldTravelsAlone([report])
        try everyFieldTravelsAlone([MitigationAction(actionType: "NONE", rationale: "r")])
        try everyFieldTravelsAlone([FieldTableTests.step])
        try everyFieldTravelsAlone([Fixtures.policyUpdate])
        var blueprint = Fixtures.blueprint
        blueprint.quarantineOnly = true
        try everyFieldTravelsAlone([blueprint])
        try everyFieldTravelsAlone([BlueprintParameterBounds(minValue: 0.1, maxValue: 0.9)])
    }

    @Test func envelopeFields() throws {
        var envelope = Fixtures.envelope(.systemState(Fixtures.systemState))
        envelope.correlationId = "corr-1"
        // The envelope's payload is required: the base carries an empty unspecified one.
        var base = BusEnvelope.fields.defaults
        base.message = .unspecified(.object([:]))
        try everyFieldTravelsAlone([envelope], base: base)
        try everyFieldTravelsAlone([
            EventEnvelope(
                eventId: "e", eventType: "t", sourceSubsystem: "s", createdAt: FieldTableTests.time,
                processingDeadline: .milliseconds(10), ttl: LeylineDuration(seconds: 60), payload: LeylineBytes([1, 2]),
                payloadType: "p", contentEncoding: "gzip", priority: .high, routingKeys: ["r"], correlationId: "c",
                deliveryGuarantee: .atLeastOnce, maxAttempts: 3, currentAttempt: 1)
        ])
    }
}
