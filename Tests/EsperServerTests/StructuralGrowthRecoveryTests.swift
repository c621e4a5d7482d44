import EsperTestSupport
import Foundation
import Testing

/// A grown run survives kill -9: a host grows and fossilises a structural seed under the heuristic
/// policy (a conv branch on an 8-unit MNIST-1D MLP; a conv layer inserted into an MNIST-1D conv
/// host), the server is killed with SIGKILL after the fossilisation, and the restarted server
/// resumes the run from its checkpoint — whose architecture carries the grown structure — to the
/// same curve, bit for bit, as the same config trained without interruption.
@Suite(.serialized) struct StructuralGrowthRecoveryTests {
    static let config = """
        {"dataset": {"kind": "mnist1d"}, "model": {"hidden_sizes": [8]}, "epochs": 160, "batch_size": 100,
         "learning_rate": 0.003, "seed": 3, "checkpoint_interval": 1, "policy": "heuristic",
         "seeds": {"blueprints": ["conv-branch-16"], "warmup_epochs": 2, "plateau_epochs": 1, "plateau_delta": 10,
                   "min_training_epochs": 2, "graft_steps": 40, "stabilization_epochs": 1, "evaluation_epochs": 1,
                   "improvement_threshold": 0, "max_germinations": 1, "parameter_budget": 4000}}
        """

    static let convHostConfig = """
        {"dataset": {"kind": "mnist1d"}, "model": {"layers": [
           {"kind": "conv1d", "channels": 8, "kernel_size": 5, "stride": 2, "padding": 1},
           {"kind": "conv1d", "channels": 8, "kernel_size": 3, "stride": 2, "padding": 1}, {"kind": "flatten"}]},
         "epochs": 160, "batch_size": 100, "learning_rate": 0.003, "seed": 3, "checkpoint_interval": 1, "policy": "heuristic",
         "seeds": {"blueprints": ["conv-insert-3"], "warmup_epochs": 2, "plateau_epochs": 1, "plateau_delta": 10,
                   "min_training_epochs": 2, "graft_steps": 40, "stabilization_epochs": 1, "evaluation_epochs": 1,
                   "improvement_threshold": 0, "max_germinations": 1, "parameter_budget": 4000}}
        """

    @Test func aGrownRunKilledAfterItsFossilisationResumesToTheSameCurve() throws {
        try Self.killAfterFossilisationAndResume(config: Self.config, grown: "branches", expected: ["conv-branch-16"])
    }

    @Test func aConvHostGrownDeeperKilledAfterItsFossilisationResumesToTheSameCurve() throws {
        try Self.killAfterFossilisationAndResume(config: Self.convHostConfig, grown: "insertions", expected: ["conv-insert-3"])
    }

    /// Runs `config`, kills the server once the latest epoch's `grown` list (`branches` or
    /// `insertions`) names `expected`, restarts it, and compares the resumed curve with an
    /// uninterrupted run of the same config.
    static func killAfterFossilisationAndResume(config: String, grown: String, expected: [String]) throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let data = TemporaryDirectory("esper-kill-growth")
        let redis = try RedisTestServer()
        guard case .unix(let socketPath) = redis.endpoint.address else { Issue.record("expected a unix socket"); return }
        let url = "unix://\(socketPath)"
        func submit(_ port: UInt16) throws -> String {
            let created = try RawHTTP.request(
                port: port, method: "POST", path: "/api/v1/runs", headers: ["Content-Type": "application/json"],
                body: Array(config.utf8))
            #expect(created.status == 202)
            return try #require(try RawHTTP.json(created)["id"] as? String)
        }
        func record(_ port: UInt16, _ id: String) throws -> [String: Any] {
            try RawHTTP.json(RawHTTP.request(port: port, path: "/api/v1/runs/\(id)"))
        }
        func branches(_ port: UInt16, _ id: String) throws -> [String] {
            let metrics = try record(port, id)["latest_metrics"] as? [String: Any] ?? [:]
            return (metrics[grown] as? [[String: Any]] ?? []).compactMap { $0["blueprint"] as? String }
        }

        let first = try ServerProcess(dataDirectory: data.path, redisURL: url)
        let id = try submit(first.port)
        // Kill once the grown structure is part of the host, well before the end.
        #expect(try eventually(within: 240) { try branches(first.port, id) == expected })
        let killedAt = try #require(try record(first.port, id)["epoch"] as? Int)
        #expect(killedAt < 150, "killed before the end")
        first.killHard()

        let second = try ServerProcess(dataDirectory: data.path, redisURL: url)
        #expect(try eventually(within: 600) { try record(second.port, id)["status"] as? String == "succeeded" })
        let finished = try record(second.port, id)
        #expect(finished["restarts"] as? Int == 1)
        #expect(try branches(second.port, id) == expected)
        // The same config trained without interruption on the same server.
        let straight = try submit(second.port)
        #expect(try eventually(within: 600) { try record(second.port, straight)["status"] as? String == "succeeded" })
        func curve(_ run: String) throws -> [Double] {
            let metrics = try RawHTTP.json(RawHTTP.request(port: second.port, path: "/api/v1/runs/\(run)/metrics"))
            return (metrics["epochs"] as? [[String: Any]] ?? []).compactMap { $0["train_loss"] as? Double }
        }
        let resumed = try curve(id), uninterrupted = try curve(straight)
        #expect(resumed.count == 160 && resumed == uninterrupted)
        #expect(try branches(second.port, straight) == expected)
        second.terminate()
    }
}
