// The fixed_schedule control over REST: each grown run's germinations repeated by the scheduled policy.
import EsperJSON
import EsperTestSupport
import Foundation
import Testing

@Suite(.serialized) struct StudyFixedScheduleTests {
    /// (germinated epoch, slot, blueprint) of every seed a run grafted, from its seed view.
    func germinations(_ server: ServerHarness, _ runId: String) throws -> [String] {
        let response = try server.request("GET", "/api/v1/runs/\(runId)/seeds")
        if response.status == 404 { return [] }  // a run without a controller has no seed view
        let seeds = try #require(try RawHTTP.json(response)["items"] as? [[String: Any]], "\(response.status) \(response.text)")
        return seeds.compactMap { seed -> (Int, String)? in
            guard let epoch = seed["germinated_epoch"] as? Int, let slot = seed["slot"] as? String,
                let blueprint = seed["blueprint_id"] as? String
            else { return nil }
            return (epoch, "\(epoch) \(slot) \(blueprint)")
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// A digits growth study with the fixed_schedule control: each control run starts when its
    /// grown run ends, has the grown run's recipe and seed under the `scheduled` policy, and
    /// germinates at the grown run's epochs, in its slots, with its blueprints.
    @Test func aStudyWithFixedScheduleCompletesAndItsControlsGerminateWhereTheGrownRunsDid() throws {
        var environment = ServerHarness.controlEnvironment
        environment["ESPER_MAX_CONCURRENT_RUNS"] = "1"
        let server = try ServerHarness(environment: environment)
        let created = try server.createStudy(
            #"{"name": "widen vs schedule", "base": \#(growthStudyBase(epochs: 8)), "arms": [{"name": "widen"}], "seeds": [1, 2], "#
                + #""controls": ["fixed_schedule"]}"#)
        let id = try #require(created["id"] as? String)
        #expect((created["progress"] as? [String: Any])?["planned"] as? Int == 4)
        let study = try server.waitForStudy(id, within: 400) { $0["status"] as? String == "completed" }
        #expect(study["status"] as? String == "completed", "\(study["progress"] ?? "")")
        let groups = try #require(study["groups"] as? [[String: Any]])
        #expect(groups.map { $0["name"] as? String } == ["widen", "widen/fixed_schedule"])
        #expect(groups.map { $0["kind"] as? String } == ["arm", "fixed_schedule"])
        var grownBySeed: [Int: (runId: String, config: [String: Any])] = [:]
        for outcome in (groups[0]["runs"] as? [[String: Any]]) ?? [] {
            let runId = try #require(outcome["run_id"] as? String)
            let run = try server.object("GET", "/api/v1/runs/\(runId)")
            grownBySeed[try #require(outcome["seed"] as? Int)] = (runId, try #require(run["config"] as? [String: Any]))
        }
        let controls = try #require(groups[1]["runs"] as? [[String: Any]])
        #expect(controls.count == 2 && (groups[1]["failed"] as? [Any])?.isEmpty == true)
        var germinated = 0
        for outcome in controls {
            let seed = try #require(outcome["seed"] as? Int)
            let grown = try #require(grownBySeed[seed])
            let runId = try #require(outcome["run_id"] as? String)
            let run = try server.object("GET", "/api/v1/runs/\(runId)")
            #expect(run["status"] as? String == "succeeded")
            let config = try #require(run["config"] as? [String: Any])
            #expect(config["seed"] as? Int == seed && config["name"] as? String == "widen/fixed_schedule/seed-\(seed)")
            #expect(config["epochs"] as? Int == grown.config["epochs"] as? Int)
            #expect(config["learning_rate"] as? Double == grown.config["learning_rate"] as? Double)
            let expected = try germinations(server, grown.runId)
            germinated += expected.count
            if expected.isEmpty {
                #expect(config["policy"] == nil, "a grown run that germinated nothing is repeated without growth")
            } else {
                #expect(config["policy"] as? String == "scheduled")
                let schedule = try #require((config["seeds"] as? [String: Any])?["schedule"] as? [[String: Any]])
                #expect(schedule.count == expected.count)
            }
            #expect(try germinations(server, runId) == expected, "seed \(seed)")
            #expect(outcome["germinations"] as? Int == expected.count)
        }
        #expect(germinated > 0, "at least one grown run germinated")
        #expect((study["verdicts"] as? [[String: Any]])?.map { $0["control"] as? String } == ["widen/fixed_schedule"])
    }
}
