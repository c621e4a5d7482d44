// A grown run's final widths, its seeds' fates, held-out test accuracy and training FLOPs, read from its epoch summaries.
import EsperJSON
import Foundation
import Leyline
import Runs
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
        #expect(FinalArchitecture.branches(latest: latest).isEmpty && FinalArchitecture.branches(latest: nil).isEmpty)
        var grown = latest
        grown.branches = [BranchSpec(blueprint: "conv-branch-25", slot: "slot-0")]
        #expect(FinalArchitecture.branches(latest: grown) == [BranchSpec(blueprint: "conv-branch-25", slot: "slot-0")])
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

    /// A finished run record (decoded, as the registry stores it) with the given config.
    func record(_ config: RunConfig) throws -> RunRecord {
        let configJSON = String(decoding: try JanssonEncoder().encode(config), as: UTF8.self)
        let text = #"""
            {"id": "r", "status": "succeeded", "config": \#(configJSON), "epoch": 3, "epochs": 3, "global_step": 3,
             "timings": {"elapsed_ms": 2000}, "rollbacks": 0, "restarts": 0, "created_at": "2026-01-01T00:00:00Z"}
            """#
        return try JanssonDecoder().decode(RunRecord.self, from: Array(text.utf8))
    }

    /// Test accuracy comes only from epochs evaluated on a fixed test split (final = the last
    /// epoch's, best = the highest); training FLOPs are the last epoch's run total.
    @Test func testAccuracyAndTrainingFlopsFromTheEpochs() throws {
        var history = try (0..<3).map { try summary(epoch: $0, slots: []) }
        for (index, accuracy) in [0.7, 0.9, 0.8].enumerated() {
            history[index].validationAccuracy = accuracy
            history[index].heldOutSplit = .test
            history[index].totalTrainingFlops = Double(index + 1) * 1e6
        }
        let config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 3, learningRate: 0.01)
        let outcome = RunOutcome(record: try record(config), seed: 1, epochs: history, seedStages: []) { _ in 10 }
        #expect(outcome.finalTestAccuracy == 0.8 && outcome.bestTestAccuracy == 0.9)
        #expect(outcome.trainingFlops == 3e6)
        #expect(outcome.wallTimeSeconds == 2)

        // A random validation fraction is not a test split; summaries from before FLOPs were
        // counted have none.
        for index in history.indices {
            history[index].heldOutSplit = .validation
            history[index].totalTrainingFlops = nil
        }
        let validated = RunOutcome(record: try record(config), seed: 1, epochs: history, seedStages: []) { _ in 10 }
        #expect(validated.finalTestAccuracy == nil && validated.bestTestAccuracy == nil && validated.trainingFlops == nil)
        #expect(validated.finalValidationAccuracy == 0.8)
    }

    /// Group statistics of test accuracy and FLOPs by hand, and the verdicts that include
    /// them only when a side reports them.
    @Test func groupStatisticsAndVerdictsOfTestAccuracyAndFlops() throws {
        let config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 3, learningRate: 0.01)
        let base = RunOutcome(record: try record(config), seed: 1, epochs: [], seedStages: []) { _ in 10 }
        func outcomes(_ values: [(Double, Double)]) -> [RunOutcome] {
            values.map {
                var outcome = base
                outcome.finalTestAccuracy = $0.0
                outcome.trainingFlops = $0.1
                return outcome
            }
        }
        let arm = outcomes([(0.90, 4e6), (0.92, 6e6)]), control = outcomes([(0.80, 2e6), (0.82, 2e6)])
        let statistics = GroupStatistics(arm)
        // 0.90, 0.92: mean 0.91, sample std √(2·0.01²) = 0.0141421…; 4e6, 6e6: mean 5e6, std √2e6.
        #expect(statistics.finalTestAccuracy.n == 2 && abs((statistics.finalTestAccuracy.mean ?? 0) - 0.91) < 1e-12)
        #expect(abs((statistics.finalTestAccuracy.std ?? 0) - 0.02.squareRoot() / 10) < 1e-12)
        #expect(statistics.trainingFlops.mean == 5e6 && statistics.trainingFlops.min == 4e6 && statistics.trainingFlops.max == 6e6)
        #expect(abs((statistics.trainingFlops.std ?? 0) - 2.0.squareRoot() * 1e6) < 1e-6)
        #expect(statistics.bestTestAccuracy.n == 0)

        func group(_ name: String, _ runs: [RunOutcome]) -> StudyGroupSummary {
            StudyGroupSummary(
                name: name, kind: .arm, arm: name, planned: runs.count, statistics: GroupStatistics(runs), runs: runs, failed: [])
        }
        let verdicts = ArmVerdicts(arm: group("a", arm), control: group("c", control))
        #expect(
            verdicts.comparisons.map(\.metric) == [
                "final_validation_accuracy", "final_validation_loss", "final_test_accuracy", "training_flops",
            ])
        let test = verdicts.comparisons[2], flops = verdicts.comparisons[3]
        #expect(abs((test.difference ?? 0) - 0.1) < 1e-12 && test.higherIsBetter && test.armN == 2)
        #expect(flops.difference == 3e6 && !flops.higherIsBetter)
        // Without test split or FLOPs on either side, only the validation comparisons.
        let plain = ArmVerdicts(arm: group("a", [base, base]), control: group("c", [base]))
        #expect(plain.comparisons.map(\.metric) == ["final_validation_accuracy", "final_validation_loss"])
    }
}
