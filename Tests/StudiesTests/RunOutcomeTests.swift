// A grown run's final widths and its seeds' fates, read from its epoch summaries.
import EsperJSON
import Foundation
import Leyline
import Testing
import Tolaria

@testable import Studies

@Suite struct RunOutcomeTests {
    /// An epoch summary as the run registry stores it, with the given slot widths and seeds.
    func summary(epoch: Int, slots: [(String, Int)], seeds: [(String, SeedLifecycleStage)] = []) throws -> EpochSummary {
        let slotJSON = slots.map { #"{"name": "\#($0.0)", "width": \#($0.1), "module": "identity", "parameters": 0}"# }
        let text = #"""
            {"run_id": "r", "experiment_name": "e", "epoch": \#(epoch), "epochs": 10, "global_step": 1, "train_loss": 1,
             "train_accuracy": 0.5, "train_samples": 10, "gradient_norm": 1, "validation_loss": 1, "validation_accuracy": 0.5,
             "validation_samples": 10, "epoch_ms": 1, "validation_ms": 1, "boundary_ms": 0, "controller_ms": 0,
             "samples_per_second": 1, "learning_rates": {}, "slots": [\#(slotJSON.joined(separator: ","))], "timestamp_ns": 1}
            """#
        var decoded = try JanssonDecoder().decode(EpochSummary.self, from: Array(text.utf8))
        if !seeds.isEmpty { decoded.seeds = seeds.map { SeedState(seedId: $0.0, stage: $0.1) } }
        return decoded
    }

    @Test func finalWidthsComeFromTheSlotsAfterEachHiddenLayer() throws {
        let latest = try summary(epoch: 9, slots: [("slot-0", 12), ("slot-1", 8), ("slot-7", 99)])
        #expect(FinalArchitecture.hiddenSizes(configured: [4, 8], latest: latest) == [12, 8])
        #expect(FinalArchitecture.hiddenSizes(configured: [4, 8], latest: nil) == [4, 8])
        #expect(FinalArchitecture.hiddenSizes(configured: [], latest: latest) == [])
    }

    @Test func seedFatesFromEpochSummaries() throws {
        let history = [
            try summary(epoch: 0, slots: [], seeds: [("a", .training)]),
            try summary(epoch: 1, slots: [], seeds: [("a", .fossilized), ("b", .training)]),
            try summary(epoch: 2, slots: [], seeds: [("b", .culling), ("c", .germinating)]),
            try summary(epoch: 3, slots: [], seeds: [("b", .training), ("d", .cancelled)]),
        ]
        #expect(
            RunOutcome.seedStages(from: history) == [
                "SEED_STAGE_FOSSILIZED", "SEED_STAGE_CULLING", "SEED_STAGE_GERMINATING", "SEED_STAGE_CANCELLED",
            ])
        #expect(RunOutcome.seedStages(from: []) == [])
    }
}
