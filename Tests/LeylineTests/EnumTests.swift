import EsperJSON
import Leyline
import Testing

@Suite struct EnumTests {
    /// Numbers are wire-stable: this table is the contract (00-contracts.md §2).
    @Test func numbersAndNamesMatchTheContract() {
        #expect(
            SeedLifecycleStage.allCases.map(\.name) == [
                "SEED_STAGE_UNKNOWN", "SEED_STAGE_GERMINATING", "SEED_STAGE_TRAINING", "SEED_STAGE_GRAFTING",
                "SEED_STAGE_STABILIZING", "SEED_STAGE_EVALUATING", "SEED_STAGE_FINE_TUNING", "SEED_STAGE_FOSSILIZED",
                "SEED_STAGE_CULLING", "SEED_STAGE_CANCELLED",
            ])
        #expect(SeedLifecycleStage.allCases.map(\.rawValue) == Array(0...9))
        #expect(HealthStatus.critical.rawValue == 4)
        #expect(CircuitBreakerState.halfOpen.name == "CIRCUIT_STATE_HALF_OPEN" && CircuitBreakerState.halfOpen.rawValue == 3)
        #expect(CommandType.structuralPruning.rawValue == 7 && CommandType.structuralPruning.name == "COMMAND_STRUCTURAL_PRUNING")
        #expect(SeedOperation.cancel.rawValue == 9 && SeedOperation.cancel.name == "SEED_OP_CANCEL")
        #expect(MessagePriority.critical.rawValue == 4 && MessagePriority.allCases.count == 5)
        #expect(DeliveryGuarantee.exactlyOnce.rawValue == 3)
        #expect(TelemetryLevel.critical.rawValue == 4)
        #expect(FieldReportOutcome.aborted.rawValue == 4)
        #expect(BlueprintTier.highRisk.name == "BLUEPRINT_TIER_HIGH_RISK" && BlueprintTier.highRisk.rawValue == 3)
        #expect(BusMessageType.policyUpdate.rawValue == 5 && BusMessageType.policyUpdate.name == "BUS_MESSAGE_TYPE_POLICY_UPDATE")
        // The reference checks: TRAINING > 0, INFO ≥ 0; 0 is always unknown/unspecified.
        #expect(SeedLifecycleStage.training.rawValue > 0)
        #expect(TelemetryLevel.info.rawValue >= 0)
        #expect(BusMessageType(rawValue: 0) == .unspecified && SeedLifecycleStage(rawValue: 0) == .unknown)
    }

    @Test func shortLabelsDropTheSharedPrefix() {
        #expect(FieldReportOutcome.success.label == "success")
        #expect(SeedLifecycleStage.fineTuning.label == "fine_tuning")
        #expect(CircuitBreakerState.halfOpen.label == "half_open")
        #expect(BusMessageType.systemState.label == "system_state")
        #expect(CommandType.circuitBreaker.label == "circuit_breaker")
    }

    @Test func decodesFromNameOrNumberAndRefusesUnknownValues() throws {
        let byName = try LeylineCodec.decode(SeedState.self, from: Array(#"{"seed_id":"s","stage":"SEED_STAGE_GRAFTING"}"#.utf8))
        #expect(byName.stage == .grafting)
        let byNumber = try LeylineCodec.decode(SeedState.self, from: Array(#"{"seed_id":"s","stage":3}"#.utf8))
        #expect(byNumber.stage == .grafting)
        for bad in [#""SEED_STAGE_NAPPING""#, "42", "-1", "true", #""3""#] {
            let text = #"{"seed_id":"s","stage":"# + bad + "}"
            for decoder in Decoders.all {
                let error = try #require(throws: LeylineDecodingError.self) { _ = try decoder.decode(SeedState.self, text) }
                #expect(error.problems.first?.field == "stage", "\(decoder.name) \(bad): \(error)")
            }
        }
    }
}
