import EsperStorage
import EsperTestSupport
import Foundation
import Tamiyo
import Testing

/// Simic's policy jobs on an `esper worker` process, the server a pure control plane
/// (`--no-local-workers`): the worker reads the job, Tamiyo's weights and the field reports
/// over HTTP, trains, and sends the outcome back on `jobs.records`; the server publishes.
@Suite(.serialized) struct RemotePolicyJobTests {
    func request(_ port: UInt16, _ method: String, _ path: String, json: String? = nil) throws -> RawResponse {
        try RawHTTP.request(
            port: port, method: method, path: path, headers: json == nil ? [:] : ["Content-Type": "application/json"],
            body: Array((json ?? "").utf8))
    }

    func waitForJob(_ port: UInt16, _ location: String) throws -> [String: Any] {
        var job: [String: Any] = [:]
        _ = try eventually(within: 240) {
            job = try RawHTTP.json(try request(port, "GET", location))["job"] as? [String: Any] ?? [:]
            return !["queued", "running"].contains(job["state"] as? String ?? "")
        }
        return job
    }

    @Test func aPolicyJobRunsOnAWorkerProcessAndTheServerPublishesItsPolicy() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let data = TemporaryDirectory("esper-remote-policy")
        // The server's durable field-report log, written before it starts (what its runs'
        // control loops would have left).
        let target = "optimizer"
        let store = try FieldReportStore(path: data.path + "/tamiyo/field_reports.log", retentionHours: 24)
        for report in SimicRoutesTests.reports(300, best: [target, "germinate"]) { try store.append(report) }
        let redis = try RedisTestServer()
        guard case .unix(let socketPath) = redis.endpoint.address else { throw WorkerProcessTests.Cluster.StartFailure() }
        let url = "unix://\(socketPath)"
        let settings = WorkerProcessTests.busSettings
        let server = try ServerProcess(dataDirectory: data.path, redisURL: url, arguments: ["--no-local-workers"], environment: settings)
        let port = server.port

        // The weights route: TamiyoNetwork's encoding with its SHA-256 in a header.
        let weights = try request(port, "GET", "/api/v1/tamiyo/policy/weights")
        #expect(weights.status == 200 && weights.header("X-Esper-SHA256") == Checksum.sha256Hex(weights.body))
        #expect(try request(port, "GET", "/api/v1/tamiyo/policy/weights?x=1").status == 400)
        let initial = try RawHTTP.json(try request(port, "GET", "/api/v1/tamiyo/policy"))
        let initialVersion = try #require(initial["version"] as? String)

        // The server's own slot takes compile jobs only: a policy job waits for a worker.
        let created = try request(
            port, "POST", "/api/v1/simic/jobs",
            json: #"{"updates": 30, "minibatch_size": 32, "learning_rate": 0.003, "seed": 5, "validation": {"min_average_reward": -10}}"#)
        #expect(created.status == 202)
        let location = try #require(created.header("Location"))
        let all = try RawHTTP.json(try request(port, "GET", "/api/v1/workers"))["items"] as? [[String: Any]] ?? []
        #expect(all.map { $0["kinds"] as? [String] ?? [] } == [["compile"]])
        Thread.sleep(forTimeInterval: 1)
        #expect((try RawHTTP.json(try request(port, "GET", location))["job"] as? [String: Any])?["state"] as? String == "queued")

        let local = data.path + "/worker"
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true)
        let worker = try WorkerChild(
            redisURL: url, serverPort: port, checkpoints: data.path + "/tolaria/runs", dataDirectory: local, environment: settings)
        let job = try waitForJob(port, location)
        #expect(job["state"] as? String == "succeeded", "\(job)\n\(worker.log.suffix(3000))")
        let result = try #require(job["result"] as? [String: Any])
        #expect(result["policy_version"] as? String == "simic-v1" && result["announced"] as? Bool == true)
        #expect(result["initial_policy_version"] as? String == initialVersion && result["training_reports"] as? Int ?? 0 > 200)
        #expect(eventually(within: WorkerProcessTests.step) { worker.log.contains("policy job finished") }, "\(worker.log.suffix(2000))")
        let policies = try RawHTTP.json(try request(port, "GET", "/api/v1/simic/policies"))
        #expect((policies["items"] as? [[String: Any]])?.map { $0["version"] as? String } == ["simic-v1"])

        // Tamiyo (on the server) adopted it from the policy stream: its decision changed.
        #expect(
            try eventually(within: WorkerProcessTests.step) {
                try RawHTTP.json(try request(port, "GET", "/api/v1/tamiyo/policy"))["version"] as? String == "simic-v1"
            })
        let decided = try RawHTTP.json(try request(port, "POST", "/api/v1/tamiyo/policy/decide", json: SimicRoutesTests.decideBody(0)))
        #expect(decided["action"] as? String == target && decided["policy_version"] as? String == "simic-v1")

        // A job that fails validation on the worker is rejected on the server, nothing published.
        let failing = try request(port, "POST", "/api/v1/simic/jobs", json: #"{"updates": 2, "validation": {"min_average_reward": 100}}"#)
        let rejected = try waitForJob(port, try #require(failing.header("Location")))
        #expect(rejected["state"] as? String == "rejected", "\(rejected)")
        #expect(((try RawHTTP.json(try request(port, "GET", "/api/v1/simic/policies")))["items"] as? [Any])?.count == 1)
        withExtendedLifetime(redis) {}
    }
}
