import EsperJSON
import EsperTestSupport
import Foundation
import Kernels
import Runs
import Testing
import Tolaria

/// Conv hosts over the real API: the paper's MNIST-1D CNN submitted with POST /api/v1/runs,
/// its test-split figures and training FLOPs, 422s naming bad layers, and a kill -9 mid-run
/// resumed to the same curve.
@Suite(.serialized) struct ConvRunTests {
    static func config(epochs: Int, seed: Int = 2, checkpointInterval: Int = 1) -> String {
        """
        {"dataset": {"kind": "mnist1d"}, "model": {"layers": [
           {"kind": "conv1d", "channels": 25, "kernel_size": 5, "stride": 2, "padding": 1},
           {"kind": "conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
           {"kind": "conv1d", "channels": 25, "kernel_size": 3, "stride": 2, "padding": 1},
           {"kind": "flatten"}]},
         "epochs": \(epochs), "batch_size": 100, "learning_rate": 0.01, "seed": \(seed), "checkpoint_interval": \(checkpointInterval)}
        """
    }

    @Test func aConvHostTrainsOverRESTWithTestFiguresAndFLOPs() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 1 }
        let id = try app.submit(Self.config(epochs: 3))
        #expect(try app.waitFor(id, status: "succeeded"))
        let metrics = try app.object("GET", "/api/v1/runs/\(id)/metrics")
        let epochs = try #require(metrics["epochs"] as? [[String: Any]])
        #expect(epochs.count == 3)
        #expect(epochs.allSatisfy { $0["held_out_split"] as? String == "test" && $0["validation_samples"] as? Int == 1000 })
        #expect(epochs.allSatisfy { ($0["training_flops"] as? Double ?? 0) > 7e8 })
        #expect((epochs.last?["total_training_flops"] as? Double ?? 0) == 3 * (epochs[0]["training_flops"] as? Double ?? -1))
        #expect((epochs.last?["validation_accuracy"] as? Double ?? 0) > 0.4)
        // Telemetry reaches Nissa over the bus, after the run's record says it succeeded.
        let exported = try eventually(within: 30) {
            let exposition = try app.get("/metrics").text
            return exposition.contains("esper_tolaria_test_accuracy{run=\"\(id)\"")
                && exposition.contains("esper_tolaria_run_training_flops{run=\"\(id)\"")
        }
        #expect(exported, "test accuracy and run FLOPs on /metrics")

        // Every bad field named at once: a kernel with nothing left to read, an unknown layer
        // kind, a bad padding, dense before flatten (a policy is fine: conv hosts grow depth seeds).
        let invalid = try app.request(
            "POST", "/api/v1/runs",
            json: """
                {"dataset": {"kind": "mnist1d"}, "model": {"layers": [
                   {"kind": "conv1d", "channels": 4, "kernel_size": 5, "stride": 8},
                   {"kind": "conv1d", "channels": 4, "kernel_size": 9},
                   {"kind": "lstm", "units": 3},
                   {"kind": "conv1d", "channels": 4, "kernel_size": 3, "padding": -1},
                   {"kind": "dense", "units": 8}]},
                 "epochs": 1, "learning_rate": 0.01, "policy": "heuristic"}
                """)
        #expect(invalid.status == 422)
        #expect(invalid.header("content-type") == "application/problem+json")
        let fields = (try RawHTTP.json(invalid)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
        #expect(
            Set(fields ?? []) == [
                "model.layers[1].kernel_size", "model.layers[2].kind", "model.layers[3].padding", "model.layers[4].kind",
            ])

        // Shapes of a file are checked once it is loaded: 6 features, a kernel of 7.
        let datasets = app.application.configuration.dataDirectory + "/datasets"
        try Data("1,2,3,4,5,6,0\n6,5,4,3,2,1,1\n1,1,1,1,1,1,0\n".utf8).write(to: URL(fileURLWithPath: datasets + "/short.csv"))
        let short = try app.request(
            "POST", "/api/v1/runs",
            json:
                #"{"dataset": {"kind": "csv", "path": "short.csv", "test_rows": 1}, "model": {"layers": [{"kind": "conv1d", "channels": 2, "kernel_size": 7}]}, "epochs": 1, "learning_rate": 0.01}"#
        )
        #expect(short.status == 422)
        let shortFields = (try RawHTTP.json(short)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
        #expect(shortFields == ["model.layers[0].kernel_size"])
    }

    @Test func aConvRunKilledWithSIGKILLResumesToTheSameCurve() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let text = Self.config(epochs: 200, checkpointInterval: 2)
        let data = TemporaryDirectory("esper-conv-kill")
        let redis = try RedisTestServer()
        guard case .unix(let socketPath) = redis.endpoint.address else {
            Issue.record("expected a unix socket")
            return
        }
        let url = "unix://\(socketPath)"
        let first = try ServerProcess(dataDirectory: data.path, redisURL: url)
        let created = try RawHTTP.request(
            port: first.port, method: "POST", path: "/api/v1/runs", headers: ["Content-Type": "application/json"],
            body: Array(text.utf8))
        #expect(created.status == 202)
        let id = try #require(try RawHTTP.json(created)["id"] as? String)
        func record(_ port: UInt16) throws -> [String: Any] { try RawHTTP.json(RawHTTP.request(port: port, path: "/api/v1/runs/\(id)")) }
        #expect(try eventually(within: 120) { (try record(first.port)["epoch"] as? Int ?? 0) >= 5 })
        first.killHard()

        let second = try ServerProcess(dataDirectory: data.path, redisURL: url)
        #expect(try eventually(within: 300) { try record(second.port)["status"] as? String == "succeeded" })
        let finished = try record(second.port)
        #expect(finished["restarts"] as? Int == 1)
        #expect((finished["resumed_from_epoch"] as? Int ?? 0) >= 4, "resumed from a checkpoint, not from epoch 0")

        Kernels.blasThreads = 1
        let config = try RunConfig.parse(.parse(text))
        let dataset = try DatasetLoader(directory: data.path).load(config.dataset, runSeed: config.seed)
        let sink = InMemoryTrainingSink()
        _ = try Trainer(
            runId: id, config: config, split: DataSplit(dataset, spec: config.dataset, seed: config.seed), checkpoints: nil,
            sink: sink
        ).run()
        let served = try JanssonDecoder().decode(
            RunMetrics.self, from: RawHTTP.request(port: second.port, path: "/api/v1/runs/\(id)/metrics").body)
        #expect(served.epochs.map(\.epoch) == Array(0..<200))
        #expect(served.epochs.map(\.trainLoss) == sink.summaries.map(\.trainLoss))
        #expect(served.epochs.map(\.validationAccuracy) == sink.summaries.map(\.validationAccuracy))
        #expect(served.epochs.map(\.totalTrainingFlops) == sink.summaries.map(\.totalTrainingFlops))
        second.terminate()
    }
}
