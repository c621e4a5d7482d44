import Foundation
import Kasmina
import Leyline
import Testing
import Tolaria

@testable import Tamiyo

/// Growth that earns its keep (issue 17), CI-sized: an 8-unit MLP on MNIST-1D (418 parameters,
/// ~50 % test accuracy fixed) under the heuristic policy with the conv-branch blueprint
/// allowed grows a conv branch on its input, fossilises it, and ends at least 10 points above
/// the same host trained with the same recipe and seed without seeds.
@Suite(.serialized) struct StructuralGrowthTests {
    static func config(policy: ControlPolicy) -> RunConfig {
        var config = RunConfig(dataset: DatasetSpec(kind: .mnist1d), epochs: 24, learningRate: 3e-3)
        config.model.hiddenSizes = [8]
        config.batchSize = 100
        config.seed = 3
        config.policy = policy
        guard policy != .none else { return config }
        var seeds = SeedSettings()
        seeds.blueprints = ["conv-branch-16"]
        seeds.warmupEpochs = 2
        seeds.plateauEpochs = 1
        seeds.plateauDelta = 10
        seeds.minTrainingEpochs = 2
        seeds.graftSteps = 40
        seeds.stabilizationEpochs = 1
        seeds.evaluationEpochs = 1
        seeds.improvementThreshold = 0
        seeds.maxGerminations = 1
        seeds.parameterBudget = 6000
        config.seeds = seeds
        return config
    }

    @Test func aConvBranchGrowsOnMNIST1DAndLiftsTestAccuracyByTenPoints() throws {
        let fixture = try ControlFixture()
        let grownConfig = StructuralGrowthTests.config(policy: .heuristic)
        let architecture = HostArchitecture(inputs: 40, hiddenSizes: [8], classes: 10)
        #expect(fixture.service.validate(grownConfig, architecture: architecture).isEmpty)
        let grown = try fixture.run(grownConfig)
        #expect(grown.outcome == .completed)
        let fixed = try fixture.run(StructuralGrowthTests.config(policy: .none))
        #expect(fixed.outcome == .completed)

        let operations = grown.controller.commands.compactMap { command -> String? in
            guard case .seedOperation(let op)? = command.payload else { return nil }
            return op.operation == .germinate ? "germinate:\(op.blueprintId)" : op.operation.name
        }
        #expect(operations.first == "germinate:conv-branch-16" && operations.last == SeedOperation.fossilize.name, "\(operations)")
        let branches = try #require(grown.trainer.model.architecture.branches)
        #expect(branches.map(\.blueprint) == ["conv-branch-16"])
        #expect(grown.trainer.model.architecture.parameterCount == 418 + 2464 && grown.trainer.model.architecture.parameterCount <= 6000)
        #expect(grown.controller.kasmina.isolationViolations == 0)
        #expect(grown.sink.summaries.last?.heldOutSplit == .test && fixed.sink.summaries.last?.heldOutSplit == .test)
        let grownAccuracy = try #require(grown.sink.summaries.last?.validationAccuracy)
        let fixedAccuracy = try #require(fixed.sink.summaries.last?.validationAccuracy)
        #expect(grownAccuracy >= fixedAccuracy + 0.10, "grown \(grownAccuracy), fixed \(fixedAccuracy)")
    }

    /// Tamiyo grows a conv host too: with a depth blueprint allowed, the heuristic opens a conv
    /// slot itself, germinates `conv-insert-3` there, and ends the seed with a decision (kept as
    /// a host layer, or culled with its reason in the field report), its family `depth`.
    @Test func theHeuristicGrowsDepthInAConvHost() throws {
        let fixture = try ControlFixture()
        var config = StructuralGrowthTests.config(policy: .heuristic)
        config.model.hiddenSizes = []
        config.model.layers = [
            .conv1d(Conv1DSpec(channels: 8, kernelSize: 5, stride: 2, padding: .explicit(1))),
            .conv1d(Conv1DSpec(channels: 8, kernelSize: 3, stride: 2, padding: .explicit(1))), .flatten,
        ]
        config.seeds?.blueprints = ["conv-insert-3"]
        let id = "run-\(UUID().uuidString.lowercased())"
        let before = HostArchitecture(model: config.model, inputs: 40, classes: 10)
        #expect(fixture.service.validate(config, architecture: before).isEmpty)
        let grown = try fixture.run(config, id: id)
        #expect(grown.outcome == .completed)
        let germinations = grown.controller.commands.compactMap { command -> String? in
            guard case .seedOperation(let op)? = command.payload, op.operation == .germinate else { return nil }
            return op.blueprintId
        }
        #expect(germinations == ["conv-insert-3"], "\(germinations)")
        #expect(fixture.service.flush())
        let reports = fixture.service.fieldReports.all.filter { $0.trainingRunId == id }
        #expect(reports.count == 1 && reports.allSatisfy { $0.family == "depth" }, "\(reports.map(\.family))")
        let insertions = grown.trainer.model.architecture.insertions ?? []
        if reports.first?.outcome == .success {
            #expect(insertions.count == 1)
            #expect(grown.trainer.model.architecture.parameterCount == before.parameterCount + 200)
        } else {
            #expect(insertions.isEmpty && reports.allSatisfy { !$0.cullReason.isEmpty })
        }
        #expect(grown.controller.kasmina.isolationViolations == 0)
    }

    /// A conv branch named for a host whose slots read too few positions is a 422 at
    /// submission, naming the entry.
    @Test func aConvBranchThatCannotFitIsRefusedAtSubmission() throws {
        let fixture = try ControlFixture()
        var config = StructuralGrowthTests.config(policy: .heuristic)
        config.seeds?.blueprints = ["widen-8", "conv-branch-8"]
        let short = HostArchitecture(inputs: 2, hiddenSizes: [3], classes: 2)
        let problems = fixture.service.validate(config, architecture: short)
        #expect(problems.map(\.field) == ["seeds.blueprints[1]"])
        #expect(problems.first?.message.contains("longer signal") == true)
    }
}
