import EsperTestSupport
import Foundation
import Kasmina
import Kernels
import Leyline
import Testing
import Tolaria

@testable import Tamiyo

/// Issue 17 item 6: with both the widening and the structure families allowed, the heuristic
/// keeps a conv branch where the positions of the features carry meaning (MNIST-1D) and not
/// where they carry none (the same signals, each example's 40 features put through one fixed
/// random permutation: a 1-D conv sees noise in its neighbourhoods, the dense layers see the
/// same information as before). Nothing here tells the policy which task it is on.
@Suite(.serialized) struct StructureVersusWidthTests {
    /// The CI-sized growth run of `StructuralGrowthTests` with `conv-branch-16` first in the
    /// preference order (so structure gets the first trial graft) and `widen-8` after it.
    static func config(_ dataset: DatasetSpec, policy: ControlPolicy = .heuristic) -> RunConfig {
        var config = StructuralGrowthTests.config(policy: policy)
        config.dataset = dataset
        config.epochs = 30
        config.seeds?.blueprints = ["conv-branch-16", "widen-8"]
        config.seeds?.maxGerminations = 3
        return config
    }

    /// MNIST-1D with its paper split, every row's features reordered by one fixed permutation,
    /// as a CSV in `directory` (`permuted.csv`, label last, last 1,000 rows the test split).
    static func permutedMNIST1D(in directory: String) throws -> DatasetSpec {
        let data = try DatasetLoader(directory: "/nonexistent").load(DatasetSpec(kind: .mnist1d), runSeed: 0)
        var permutation = (0..<Int32(data.featureCount)).map { $0 }
        var generator = RandomGenerator(seed: 17, stream: .dataGeneration)
        generator.shuffle(&permutation)
        var csv = ""
        for row in 0..<data.count {
            let features = data.features[(row * data.featureCount)..<((row + 1) * data.featureCount)]
            let base = features.startIndex
            csv += permutation.map { "\(features[base + Int($0)])" }.joined(separator: ",") + ",\(data.labels[row])\n"
        }
        try csv.write(toFile: directory + "/permuted.csv", atomically: true, encoding: .utf8)
        var spec = DatasetSpec(kind: .csv)
        spec.path = "permuted.csv"
        spec.testRows = DatasetSpec.mnist1dTestRows
        return spec
    }

    static func germinations(_ run: ControlFixture.Run) -> [String] {
        run.controller.commands.compactMap { command in
            guard case .seedOperation(let op)? = command.payload, op.operation == .germinate, command.annotations["executed"] == "true"
            else { return nil }
            return op.blueprintId
        }
    }

    static func accuracy(_ run: ControlFixture.Run) throws -> Double {
        try #require(run.sink.summaries.last?.validationAccuracy)
    }

    @Test func onPermutedFeaturesTheConvBranchIsNotWhatGrowthKeeps() throws {
        let fixture = try ControlFixture()
        let datasets = fixture.directory.path + "/datasets"
        try FileManager.default.createDirectory(atPath: datasets, withIntermediateDirectories: true)
        let spec = try StructureVersusWidthTests.permutedMNIST1D(in: datasets)
        let id = "run-\(UUID().uuidString.lowercased())"
        let grown = try fixture.run(StructureVersusWidthTests.config(spec), id: id, datasets: datasets)
        let fixed = try fixture.run(StructureVersusWidthTests.config(spec, policy: .none), datasets: datasets)
        #expect(grown.outcome == .completed && fixed.outcome == .completed)
        let germinated = StructureVersusWidthTests.germinations(grown)
        let ledger = grown.controller.ledger.families
        let grownAccuracy = try StructureVersusWidthTests.accuracy(grown)
        let fixedAccuracy = try StructureVersusWidthTests.accuracy(fixed)
        // Structure got its trial graft (first in the preference order) …
        #expect(germinated.first == "conv-branch-16", "\(germinated)")
        let structure = try #require(ledger["structure"])
        #expect(structure.trials >= 1)
        // … and did not win: culled with its reason in the field report, or ranked below width.
        #expect(fixture.service.flush())
        let reports = fixture.service.fieldReports.all.filter { $0.trainingRunId == id && $0.family == "structure" }
        #expect(!reports.isEmpty)
        let culled = structure.fossilized == 0
        if culled {
            #expect(reports.allSatisfy { $0.outcome != .success && !$0.cullReason.isEmpty }, "\(reports.map(\.cullReason))")
        }
        #expect(culled || GrowthLedger.rank(["structure", "widening"], by: ledger).first == "widening", "\(ledger)")
        #expect(germinated.dropFirst().allSatisfy { $0 == "widen-8" }, "\(germinated)")
        // The run still grows usefully: width is tried, kept, and lifts test accuracy over the fixed host.
        #expect((ledger["widening"]?.fossilized ?? 0) >= 1, "\(ledger)")
        #expect(grownAccuracy > fixedAccuracy, "grown \(grownAccuracy), fixed \(fixedAccuracy)")
        #expect(grown.controller.kasmina.isolationViolations == 0)
    }

    /// The converse, on MNIST-1D itself with width first in the preference order: width gets
    /// its trial, then structure, and structure is kept and ranked first — the later
    /// germinations are conv branches, which are part of the final architecture, and the run
    /// ends at least 10 points above the fixed host.
    @Test func onMNIST1DStructureIsWhatGrowthKeeps() throws {
        let fixture = try ControlFixture()
        var config = StructureVersusWidthTests.config(DatasetSpec(kind: .mnist1d))
        config.seeds?.blueprints = ["widen-8", "conv-branch-16"]
        let grown = try fixture.run(config)
        let fixed = try fixture.run(StructureVersusWidthTests.config(DatasetSpec(kind: .mnist1d), policy: .none))
        #expect(grown.outcome == .completed && fixed.outcome == .completed)
        let germinated = StructureVersusWidthTests.germinations(grown)
        let ledger = grown.controller.ledger.families
        #expect(germinated.prefix(2) == ["widen-8", "conv-branch-16"], "\(germinated)")
        let branches = grown.trainer.model.architecture.branches ?? []
        #expect(!branches.isEmpty && branches.allSatisfy { $0.blueprint == "conv-branch-16" }, "\(germinated)")
        #expect(ledger["structure"]?.pays == true && ledger["structure"]?.culled == 0, "\(ledger)")
        let grownAccuracy = try StructureVersusWidthTests.accuracy(grown)
        let fixedAccuracy = try StructureVersusWidthTests.accuracy(fixed)
        #expect(grownAccuracy >= fixedAccuracy + 0.10, "grown \(grownAccuracy), fixed \(fixedAccuracy)")
        // The ledger weighs what each kept seed itself is worth (its ablation) per doubling of
        // the network: the conv branch outranks width here, so later germinations go to structure.
        #expect(GrowthLedger.rank(["widening", "structure"], by: ledger).first == "structure", "\(ledger)")
        #expect(germinated.dropFirst(2).allSatisfy { $0 == "conv-branch-16" }, "\(germinated)")
    }
}
