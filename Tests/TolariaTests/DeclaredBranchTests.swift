import EsperJSON
import Foundation
import Kernels
import Testing

@testable import Tolaria

/// Conv branches declared in `model.branches` (what a grown run's fossilised structural seeds
/// become, trained from scratch): every bad field named, shapes that leave nothing refused, the
/// host built with the branch as a host group, its FLOPs counted.
@Suite struct DeclaredBranchTests {
    static let mnist = #""dataset": {"kind": "mnist1d"}, "epochs": 2, "learning_rate": 0.003, "batch_size": 100"#

    @Test func aDeclaredBranchIsPartOfTheHostFromTheStart() throws {
        let config = try ConvHostTests.parse(
            #"{\#(Self.mnist), "model": {"hidden_sizes": [8], "branches": [{"blueprint": "conv-branch-16", "slot": "slot-0"}]}}"#)
        #expect(config.model.branches == [BranchSpec(blueprint: "conv-branch-16", slot: "slot-0")])
        let architecture = HostArchitecture(model: config.model, inputs: 40, classes: 10)
        let branch = try #require(architecture.branches?.first)
        #expect(branch.layer == 0 && branch.inputs == 40 && branch.outputs == 10 && branch.channels == 16 && branch.flatWidth == 80)
        // 16·5+16 + 16·3·16+16 + 16·3·16+16 + 10·80 = 96 + 784 + 784 + 800.
        #expect(architecture.parameterCount == 418 + 2464)
        let model = HostMLP(architecture: architecture, maxBatch: 100, learningRate: 0.003, seed: 1)
        #expect(model.hostGroups.map(\.name) == ["host.layer-0", "host.output", "host.branch-0"])
        // FLOPs: the branch's forward and its weight gradients, input gradients past its first conv.
        let bare = TrainingCost(architecture: HostArchitecture(inputs: 40, hiddenSizes: [8], classes: 10)).hostPerExample
        let (convs, map) = branch.multiplyAdds
        #expect(convs == [19 * 16 * 5, 10 * 16 * 3 * 16, 5 * 16 * 3 * 16] && map == 800)
        let expected =
            bare + 2 * Double(convs.reduce(0, +) + map) + 10 + 2 * Double(convs.reduce(0, +) + map)
            + 2 * Double(convs.dropFirst().reduce(0, +) + map)
        #expect(TrainingCost(architecture: architecture).hostPerExample == expected)

        // It trains, reports its branch in every summary, and beats the bare host.
        let sink = InMemoryTrainingSink(), bareSink = InMemoryTrainingSink()
        let split = try ConvHostTests.split(config)
        #expect(try Trainer(runId: "declared", config: config, split: split, checkpoints: nil, sink: sink).run() == .completed)
        var plain = config
        plain.model.branches = nil
        #expect(try Trainer(runId: "plain", config: plain, split: split, checkpoints: nil, sink: bareSink).run() == .completed)
        #expect(sink.summaries.last?.branches == config.model.branches && bareSink.summaries.last?.branches == nil)
        #expect((sink.summaries.last?.validationAccuracy ?? 0) > (bareSink.summaries.last?.validationAccuracy ?? 1))
    }

    @Test func badBranchesNameEveryBadField() throws {
        let fields = try ConvHostTests.problems(
            """
            {\(Self.mnist), "model": {"hidden_sizes": [8], "branches": [
              {"blueprint": "conv-branch-7", "slot": "slot-0"},
              {"blueprint": "widen-8", "slot": "slot-1"},
              {"slot": "slot-0", "stride": 2},
              "conv-branch-16"
            ]}}
            """
        ).map(\.field)
        #expect(
            Set(fields) == [
                "model.branches[0].blueprint", "model.branches[1].blueprint", "model.branches[1].slot", "model.branches[2].blueprint",
                "model.branches[2].stride", "model.branches[3]",
            ])
        #expect(try ConvHostTests.problems(#"{\#(Self.mnist), "model": {"branches": {}}}"#).map(\.field) == ["model.branches"])
        // Conv hosts take no branches.
        let conv = try ConvHostTests.problems(
            #"{\#(Self.mnist), "model": {"layers": \#(ConvHostTests.paperLayers), "branches": [{"blueprint": "BP055", "slot": "slot-0"}]}}"#
        )
        #expect(conv.map(\.field).contains("model.branches"))
        // A signal too short for the kernels and strides: two moons' 2 features.
        let short = try ConvHostTests.problems(
            #"{"dataset": {"kind": "two_moons"}, "epochs": 1, "learning_rate": 0.01, "model": {"hidden_sizes": [8], "branches": [{"blueprint": "conv-branch-8", "slot": "slot-0"}]}}"#
        )
        #expect(short.map(\.field) == ["model.branches[0].blueprint"])
        #expect(short.first?.message.contains("nothing is left") == true)
        // A file's length is known once loaded: the same check runs then.
        let deferred = try ConvHostTests.parse(
            #"{"dataset": {"kind": "csv", "path": "x.csv"}, "epochs": 1, "learning_rate": 0.01, "model": {"hidden_sizes": [8], "branches": [{"blueprint": "conv-branch-8", "slot": "slot-0"}]}}"#
        )
        #expect(deferred.model.shapeProblems(inputs: 2, batchSize: 32).map(\.field) == ["model.branches[0].blueprint"])
        #expect(deferred.model.shapeProblems(inputs: 40, batchSize: 32).isEmpty)
    }
}
