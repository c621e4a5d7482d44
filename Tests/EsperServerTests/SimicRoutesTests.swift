import EsperTestSupport
import Foundation
import Leyline
import Oona
import Simic
import Tamiyo
import TamiyoNetwork
import Testing

/// The closed loop over the real server: field reports on the bus feed Simic's buffer; a job
/// over REST trains, validates and publishes; Tamiyo picks the PolicyUpdate off the policy
/// stream and its decision on a fixed input changes; a failing policy is not published;
/// rollback restores the last known good one. Telemetry reaches Nissa through Oona.
@Suite(.serialized) struct SimicRoutesTests {
    static let legal = ["wait", "germinate", "optimizer", "pause"]

    static func features(_ context: Int) -> [Float] {
        var f = [Float](repeating: 0, count: PolicyNetworkConfig().featureDim)
        f[0] = Float(context)
        f[1] = 0.5
        return f
    }

    /// A contextual bandit's field reports: in context c, `best[c]` earns +1, the rest −1.
    static func reports(_ n: Int, best: [String]) -> [FieldReport] {
        var state: UInt64 = 99
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let mask = legal.reduce(UInt32(0)) { m, name in m | 1 << UInt32(PolicyAction.allCases.first { $0.name == name }!.rawValue) }
        return (0..<n).map { i in
            let context = next(2)
            let name = legal[next(legal.count)]
            let action = PolicyAction.allCases.first { $0.name == name }!
            let reward: Float = name == best[context] ? 1 : -1
            return FieldReport(
                reportId: "fr-bandit-\(i)", commandId: "cmd-\(i)", trainingRunId: "bandit", seedId: "seed-\(i)", blueprintId: "BP001",
                outcome: reward > 0 ? .success : .neutral, metrics: ["loss_delta": -reward], observationWindowEpochs: 1,
                issuedAt: .now(), tamiyoPolicyVersion: "policy-init",
                trajectory: [
                    PolicyStep(
                        epoch: UInt32(i), action: UInt32(action.rawValue), validActions: mask, features: features(context),
                        logits: [Float](repeating: 0, count: 6))
                ])
        }
    }

    static func decideBody(_ context: Int) -> String {
        "{\"features\": [\(features(context).map { String($0) }.joined(separator: ","))], \"valid_actions\": [\"wait\",\"germinate\",\"optimizer\",\"pause\"]}"
    }

    func waitForJob(_ server: ServerHarness, _ location: String) throws -> [String: Any] {
        var job: [String: Any] = [:]
        _ = try eventually(within: 60) {
            job = (try server.object("GET", location))["job"] as? [String: Any] ?? [:]
            return ["succeeded", "rejected", "failed"].contains(job["state"] as? String ?? "")
        }
        return job
    }

    /// The fields of each entry on `jobs.policy`, as text.
    static func policyJobs(_ bus: OonaClient) throws -> [String] {
        let entries = try bus.execute([["XRANGE", bus.keys.key(.jobsPolicy), "-", "+"]])[0].array ?? []
        return entries.map { ($0.array?.last?.array ?? []).compactMap(\.text).joined(separator: " ") }
    }

    /// Entries of `jobs.policy` the workers' group has not acknowledged.
    static func pendingPolicyJobs(_ bus: OonaClient) throws -> Int64 {
        let reply = try bus.execute([["XPENDING", bus.keys.key(.jobsPolicy), "workers"]])[0]
        return reply.array?.first?.integer ?? -1
    }

    /// With `--no-local-workers` the server is a pure control plane for policy jobs: its one
    /// slot takes compile jobs only, so a policy job waits on `jobs.policy` for an `esper
    /// worker` (`RemotePolicyJobTests` runs one) — still queued, its entry undelivered.
    @Test func aPolicyJobWaitsForAWorkerOnAServerWithoutLocalWorkers() throws {
        let server = try ServerHarness(environment: ["ESPER_LOCAL_WORKERS": "off"])
        let app = server.application
        let created = try server.request(
            "POST", "/api/v1/simic/jobs", json: #"{"updates": 2, "seed": 3, "validation": {"min_reports": 1000}}"#)
        #expect(created.status == 202)
        let location = try #require(created.header("Location"))
        // The local slot registers itself on its own thread after the server starts: on a
        // busy machine the first listing can come before it.
        var workers: [[String: Any]] = []
        _ = eventually(within: 30) {
            workers = (try? server.object("GET", "/api/v1/workers")["items"] as? [[String: Any]]) ?? []
            return !workers.isEmpty
        }
        #expect(workers.count == 1)
        #expect(workers.first?["local"] as? Bool == true && workers.first?["kinds"] as? [String] == ["compile"])
        Thread.sleep(forTimeInterval: 1)
        let job = try #require(try server.object("GET", location)["job"] as? [String: Any])
        #expect(job["state"] as? String == "queued")
        let jobId = try #require(job["id"] as? String)
        let entries = try SimicRoutesTests.policyJobs(app.bus)
        #expect(entries.count == 1 && entries.first?.contains(jobId) == true)
        #expect(try SimicRoutesTests.pendingPolicyJobs(app.bus) == 0)
    }

    @Test func aPublishedPolicyChangesTamiyosDecisionAndRollsBack() throws {
        let server = try ServerHarness()
        let app = server.application
        let initial = try server.object("GET", "/api/v1/tamiyo/policy")
        let initialVersion = try #require(initial["version"] as? String)
        let before = try server.object("POST", "/api/v1/tamiyo/policy/decide", json: SimicRoutesTests.decideBody(0))
        let initialAction = try #require(before["action"] as? String)
        #expect(before["policy_version"] as? String == initialVersion)
        let target = SimicRoutesTests.legal.first { $0 != initialAction }!

        // Field reports over the bus (the groups exist before anything is published).
        try app.bus.ensureConsumerGroup(SimicService.group, streams: [.normal])
        try app.bus.ensureConsumerGroup(TamiyoService.policyGroup, streams: [.policy])
        for report in SimicRoutesTests.reports(300, best: [target, target == "germinate" ? "pause" : "germinate"]) {
            _ = try app.bus.publishFieldReport(report)
        }
        #expect(eventually(within: 30) { app.simic.buffer.count == 300 })
        // A second copy of a report is ignored (dedupe on report_id + command_id).
        _ = try app.bus.publishFieldReport(SimicRoutesTests.reports(1, best: [target, target])[0])
        // A message that is not a field report on the normal stream is dead-lettered.
        _ = try app.bus.publish(
            .policyUpdate(PolicyUpdate(policyId: "stray", issuedAt: .now())), options: PublishOptions(stream: .normal))
        #expect(eventually(within: 30) { app.simic.bufferInfo.rejected == 1 && app.simic.bufferInfo.duplicates >= 1 })
        #expect(app.simic.buffer.count == 300)

        // A job with bad settings is refused, naming each field.
        let bad = try server.request(
            "POST", "/api/v1/simic/jobs", json: #"{"epochs": 0, "clip_epsilon": 2, "validation": {"min_reports": -1}}"#)
        #expect(bad.status == 422)
        for field in ["epochs", "clip_epsilon", "validation.min_reports"] { #expect(bad.text.contains(field)) }
        #expect(try server.request("POST", "/api/v1/simic/jobs", json: #"{"epoch": 3}"#).status == 400)

        // Train: 202 + Location, then the job succeeds and publishes simic-v1.
        let created = try server.request(
            "POST", "/api/v1/simic/jobs",
            json: #"{"updates": 30, "minibatch_size": 32, "learning_rate": 0.003, "seed": 5, "validation": {"min_average_reward": -10}}"#)
        #expect(created.status == 202)
        let location = try #require(created.header("Location"))
        let job = try waitForJob(server, location)
        #expect(job["state"] as? String == "succeeded")
        let result = try #require(job["result"] as? [String: Any])
        #expect(result["policy_version"] as? String == "simic-v1" && result["announced"] as? Bool == true)
        // It went through the job queue: one entry on jobs.policy naming it, acknowledged by the workers' group.
        let jobId = try #require(job["id"] as? String)
        #expect(try SimicRoutesTests.policyJobs(app.bus).filter { $0.contains(jobId) }.count == 1)
        #expect(try SimicRoutesTests.pendingPolicyJobs(app.bus) == 0)

        // Tamiyo takes it from the policy stream; its decision on the fixed input changes.
        #expect(try eventually(within: 30) { (try server.object("GET", "/api/v1/tamiyo/policy"))["version"] as? String == "simic-v1" })
        let after = try server.object("POST", "/api/v1/tamiyo/policy/decide", json: SimicRoutesTests.decideBody(0))
        #expect(after["action"] as? String == target && after["policy_version"] as? String == "simic-v1")
        let policies = try server.object("GET", "/api/v1/simic/policies")
        #expect((policies["items"] as? [[String: Any]])?.map { $0["version"] as? String } == ["simic-v1"])

        // A policy that fails validation is not published, and the reason is in the job.
        let failing = try server.request(
            "POST", "/api/v1/simic/jobs", json: #"{"updates": 2, "validation": {"min_average_reward": 100}}"#)
        #expect(failing.status == 202)
        let rejected = try waitForJob(server, try #require(failing.header("Location")))
        #expect(rejected["state"] as? String == "rejected")
        let validation = (rejected["result"] as? [String: Any])?["validation"] as? [String: Any]
        #expect((validation?["reasons"] as? [String])?.first?.hasPrefix("average_reward") == true)
        #expect(((try server.object("GET", "/api/v1/simic/policies"))["items"] as? [Any])?.count == 1)
        #expect((try server.object("GET", "/api/v1/tamiyo/policy"))["version"] as? String == "simic-v1")

        // Simic's telemetry went through Oona into Nissa.
        #expect(
            eventually(within: 30) {
                let names = Set(app.nissa.store.names())
                return ["simic.training.reward", "simic.training.loss", "simic.validation.pass"].allSatisfy { names.contains($0) }
            })

        // Rollback: the last known good policy and its decision come back; then nothing is left.
        let rollback = try server.object("POST", "/api/v1/tamiyo/policy/rollback")
        #expect(rollback["version"] as? String == initialVersion)
        let restored = try server.object("POST", "/api/v1/tamiyo/policy/decide", json: SimicRoutesTests.decideBody(0))
        #expect(restored["action"] as? String == initialAction && restored["policy_version"] as? String == initialVersion)
        #expect(try server.request("POST", "/api/v1/tamiyo/policy/rollback").status == 409)

        // Unknown or malformed ids.
        #expect(try server.get("/api/v1/simic/jobs/not-a-uuid").status == 400)
        #expect(try server.get("/api/v1/simic/jobs/\(UUID().uuidString.lowercased())").status == 404)
        #expect(try server.get("/api/v1/simic/policies?limit=0").status == 400)
        let decideBad = try server.request("POST", "/api/v1/tamiyo/policy/decide", json: #"{"features": [1, 2], "valid_actions": ["fly"]}"#)
        #expect(decideBad.status == 422 && decideBad.text.contains("features") && decideBad.text.contains("valid_actions[0]"))
    }

    @Test func aCorruptPolicyUpdateIsRefusedAndTheLastGoodStays() throws {
        let server = try ServerHarness()
        let app = server.application
        try app.bus.ensureConsumerGroup(TamiyoService.policyGroup, streams: [.policy])
        let version = try #require((try server.object("GET", "/api/v1/tamiyo/policy"))["version"] as? String)
        var bytes = PolicyWeights.initial(seed: 77, policyVersion: "tampered").encoded()
        bytes[bytes.count - 5] ^= 0x40  // one flipped bit in the floats: the checksum no longer matches
        _ = try app.bus.publishPolicyUpdate(
            PolicyUpdate(policyId: "bad", issuedAt: .now(), tamiyoPolicyVersion: "tampered", payload: LeylineBytes(bytes)))
        #expect(
            try eventually(within: 30) {
                ((try server.object("GET", "/api/v1/tamiyo/policy"))["last_refusal"] as? String)?.contains("checksum") == true
            })
        #expect((try server.object("GET", "/api/v1/tamiyo/policy"))["version"] as? String == version)
        // A good one right after is taken.
        let good = PolicyWeights.initial(seed: 78, policyVersion: "good-1")
        _ = try app.bus.publishPolicyUpdate(
            PolicyUpdate(policyId: "good", issuedAt: .now(), tamiyoPolicyVersion: "good-1", payload: LeylineBytes(good.encoded())))
        #expect(try eventually(within: 30) { (try server.object("GET", "/api/v1/tamiyo/policy"))["version"] as? String == "good-1" })
    }
}

@Suite struct QueueUnavailableTests {
    /// A job the queue cannot take is answered 503 with Retry-After (and recorded as failed),
    /// never 202 for work no worker will ever pick up.
    @Test func jobsAreRefusedWith503WhileRedisIsDown() throws {
        let redis = try RedisTestServer()
        let server = try ServerHarness(redis: redis)
        redis.managed.stop()
        let policy = try server.request("POST", "/api/v1/simic/jobs", json: #"{"updates": 1}"#)
        #expect(policy.status == 503)
        #expect(policy.header("retry-after") == "5")
        #expect(policy.header("content-type") == "application/problem+json")
        let compile = try server.request("POST", "/api/v1/tezzeret/jobs", json: #"{"blueprint_id":"BP002","parameters":{"scale":1.75}}"#)
        #expect(compile.status == 503)
        #expect(compile.header("retry-after") == "5")
        // Validation still comes first: a bad body is 422 whatever the queue's state.
        let invalid = try server.request("POST", "/api/v1/tezzeret/jobs", json: #"{"blueprint_id":"BP002","parameters":{"scale":-1}}"#)
        #expect(invalid.status == 422)
    }
}
