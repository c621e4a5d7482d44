import EsperJSON
import EsperTestSupport
import Runs
import Testing
import Tolaria

/// What a worker does with a training job it cannot train.
@Suite struct RunExecutorTests {
    @Test func aJobWhoseLayersDoNotFitFailsTheRunNotTheWorker() throws {
        // As if decoded from a job on the bus without passing through POST /api/v1/runs: a conv
        // host (MNIST-1D) whose kernel is wider than the 40 inputs.
        var config = try RunConfig.parse(
            .parse(
                #"{"dataset": {"kind": "mnist1d"}, "model": {"layers": [{"kind": "conv1d", "channels": 25, "kernel_size": 5}, {"kind": "flatten"}]}, "epochs": 6, "batch_size": 100, "learning_rate": 0.01, "seed": 3}"#
            ))
        config.model.layers = [.conv1d(Conv1DSpec(channels: 2, kernelSize: 41))]
        let directory = TemporaryDirectory()
        let result = RunExecutor(checkpointRoot: directory.path, datasetsDirectory: directory.path).execute(
            runId: "bad", config: config, sink: InMemoryTrainingSink(), controller: { NoOpEpochController() },
            control: UninterruptedTraining(), onResume: { _ in })
        guard case .failure(let error as RunConfigError) = result else {
            Issue.record("expected a RunConfigError, got \(result)")
            return
        }
        #expect(error.problems.map(\.field) == ["model.layers[0].kernel_size"])
    }
}
