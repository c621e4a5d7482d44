// Studies over REST: a digits growth study with its controls across a restart, validation, controls, deletion, storage.
import EsperJSON
import EsperTestSupport
import Foundation
import Testing

@testable import Studies

/// A digits growth study: 64→4→10 under the heuristic policy with widen-8 only and gates that
/// let one widening through early (as in ControlLoopRoutesTests) — CI-sized.
func growthStudyBase(epochs: Int) -> String {
    #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [4]}, "epochs": \#(epochs), "learning_rate": 0.01, "#
        + #""checkpoint_interval": 1, "policy": "heuristic", "seeds": {"blueprints": ["widen-8"], "warmup_epochs": 1, "#
        + #""plateau_epochs": 1, "plateau_delta": 10, "min_training_epochs": 1, "graft_steps": 10, "stabilization_epochs": 0, "#
        + #""evaluation_epochs": 1, "improvement_threshold": 0, "max_germinations": 1}}"#
}

func growthStudy(epochs: Int) -> String {
    #"{"name": "widen vs controls", "base": \#(growthStudyBase(epochs: epochs)), "arms": [{"name": "widen"}], "seeds": [1, 2, 3], "#
        + #""controls": ["no_growth", "static_final"]}"#
}

extension ServerHarness {
    func createStudy(_ json: String, key: String? = nil) throws -> [String: Any] {
        let response = try request("POST", "/api/v1/studies", json: json, headers: key.map { ["Idempotency-Key": $0] } ?? [:])
        #expect(response.status == 202, "\(response.text)")
        let study = try RawHTTP.json(response)
        #expect(response.header("location") == "/api/v1/studies/\(study["id"] as? String ?? "")")
        return study
    }

    /// Polls the study (twice a second: a summary reads every run) until `done` or the deadline.
    func waitForStudy(_ id: String, within seconds: Double, until done: ([String: Any]) -> Bool) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(seconds)
        var study = try object("GET", "/api/v1/studies/\(id)")
        while !done(study) && Date() < deadline {
            usleep(500_000)
            study = try object("GET", "/api/v1/studies/\(id)")
        }
        return study
    }
}

/// Sample statistics computed here, independently of the server's.
func meanAndStd(_ values: [Double]) -> (mean: Double, std: Double?) {
    let mean = values.reduce(0, +) / Double(values.count)
    guard values.count > 1 else { return (mean, nil) }
    return (mean, (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count - 1)).squareRoot())
}

@Suite(.serialized) struct StudyRoutesTests {
    /// The issue's acceptance test, minus the worker processes: 3 seeds with no_growth and
    /// static_final controls, the server restarted mid-study; the summary equals what the runs'
    /// own metrics give.
    @Test func aGrowthStudyWithControlsCompletesAcrossARestartAndItsSummaryMatchesTheRuns() throws {
        let data = TemporaryDirectory("esper-study")
        var environment = ServerHarness.controlEnvironment
        environment["ESPER_MAX_CONCURRENT_RUNS"] = "1"
        var server: ServerHarness? = try ServerHarness(environment: environment, data: data)
        let created = try server!.createStudy(growthStudy(epochs: 14))
        let id = try #require(created["id"] as? String)
        #expect((created["progress"] as? [String: Any])?["planned"] as? Int == 9)
        // Runs are ordinary runs, labelled with the study and the group.
        let runs = try #require(try server!.object("GET", "/api/v1/runs?limit=500")["items"] as? [[String: Any]])
        let names = runs.filter { ($0["config"] as? [String: Any])?["experiment_name"] as? String == id }.compactMap {
            $0["name"] as? String
        }
        let all: Set<String> = [
            "widen/seed-1", "widen/seed-2", "widen/seed-3", "widen/no_growth/seed-1", "widen/no_growth/seed-2", "widen/no_growth/seed-3",
            "widen/static_final/seed-1", "widen/static_final/seed-2", "widen/static_final/seed-3",
        ]
        // Arms and no_growth controls at once; static_final runs only once their grown run ended.
        #expect(Set(names).isSubset(of: all) && Set(names).isSuperset(of: all.filter { !$0.contains("static_final") }))

        // Paused at once, then a restart: the study, its state and its runs survive it; after
        // the resume its pending static_final runs are created by the new server's monitor.
        #expect(try server!.object("POST", "/api/v1/studies/\(id)/pause")["state"] as? String == "paused")
        server = nil
        let restarted = try ServerHarness(environment: environment, data: data)
        let afterRestart = try restarted.object("GET", "/api/v1/studies/\(id)")
        #expect(afterRestart["state"] as? String == "paused" && afterRestart["name"] as? String == "widen vs controls")
        #expect(try restarted.object("POST", "/api/v1/studies/\(id)/resume")["state"] as? String == "active")
        let study = try restarted.waitForStudy(id, within: 400) { $0["status"] as? String == "completed" }
        #expect(study["status"] as? String == "completed", "\(study["progress"] ?? "")")
        let progress = try #require(study["progress"] as? [String: Any])
        #expect(progress["succeeded"] as? Int == 9 && progress["pending"] as? Int == 0)

        let (groups, finalAccuracies) = try checkSummaryMatchesTheRuns(study, epochs: 14) { try restarted.object("GET", $0) }
        // Curves: aligned by epoch, n = 3 per group at every epoch.
        let curves = try restarted.object("GET", "/api/v1/studies/\(id)/curves?metric=validation_accuracy")
        let curveGroups = try #require(curves["groups"] as? [[String: Any]])
        #expect(curveGroups.count == 3)
        for curve in curveGroups {
            let points = try #require(curve["points"] as? [[String: Any]])
            #expect(points.count == 14 && points.allSatisfy { $0["n"] as? Int == 3 })
            let name = try #require(curve["name"] as? String)
            #expect(abs((points.last?["mean"] as? Double ?? .nan) - meanAndStd(finalAccuracies[name]!).mean) < 1e-12)
        }
        #expect(try restarted.request("GET", "/api/v1/studies/\(id)/curves?metric=colour").status == 400)

        // Listed; then deleted with its runs and their checkpoints.
        let list = try #require(try restarted.object("GET", "/api/v1/studies")["items"] as? [[String: Any]])
        #expect(list.first?["id"] as? String == id && list.first?["status"] as? String == "completed")
        let runIds = groups.flatMap { ($0["runs"] as? [[String: Any]] ?? []).compactMap { $0["run_id"] as? String } }
        let checkpoints = data.path + "/var/tolaria/runs/"
        #expect(FileManager.default.fileExists(atPath: checkpoints + runIds[0]))
        #expect(try restarted.request("DELETE", "/api/v1/studies/\(id)").status == 204)
        #expect(try restarted.request("GET", "/api/v1/studies/\(id)").status == 404)
        for runId in runIds {
            #expect(try restarted.request("GET", "/api/v1/runs/\(runId)").status == 404)
            #expect(!FileManager.default.fileExists(atPath: checkpoints + runId))
        }
    }

    @Test func badStudiesAreRefusedWithEveryFieldNamed() throws {
        let server = try ServerHarness(environment: ["ESPER_STUDY_MAX_RUNS": "6"])
        func problems(_ json: String) throws -> [String] {
            let response = try server.request("POST", "/api/v1/studies", json: json)
            #expect(response.status == 422, "\(response.text)")
            return (try RawHTTP.json(response)["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
        }
        let base = #"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 2, "learning_rate": 0.01}"#
        // Config problems name their source: the arm's overrides or the base.
        #expect(
            try problems(
                #"{"name": "s", "base": {"dataset": {"kind": "two_moons"}, "epochs": 0, "learning_rate": 0.01}, "arms": [{"name": "a"}, "#
                    + #"{"name": "b", "overrides": {"model": {"hidden_sizes": [0]}}}], "seeds": [1]}"#)
                == ["base.epochs", "arms[1].overrides.model.hidden_sizes[0]"])
        #expect(
            try problems(#"{"name": "s", "base": \#(base), "arms": [{"name": "a"}], "seeds": [1], "controls": ["fixed_schedule"]}"#) == [
                "base.policy"
            ])
        // 3 seeds × (2 arms × 2) = 12 runs > 6.
        #expect(
            try problems(
                #"{"name": "s", "base": \#(base), "arms": [{"name": "a"}, {"name": "b"}], "seeds": [1, 2, 3], "controls": ["no_growth"]}"#)
                == ["seeds"])
        #expect(try server.request("POST", "/api/v1/studies", json: "{").status == 400)
        #expect(try server.request("POST", "/api/v1/studies", json: "").status == 400)
        #expect(try server.request("GET", "/api/v1/studies/nope").status == 400)
        #expect(try server.request("GET", "/api/v1/studies/\(UUID().uuidString.lowercased())").status == 404)
        #expect(try server.request("GET", "/api/v1/studies?limit=0").status == 400)

        // Idempotency-Key: the same study back.
        let body =
            #"{"name": "quick", "base": \#(base), "arms": [{"name": "a"}], "seeds": [1, 2], "fixed": [{"name": "wide", "overrides": {"model": {"hidden_sizes": [64]}}}]}"#
        let first = try server.createStudy(body, key: "study-1")
        let again = try server.createStudy(body, key: "study-1")
        let id = try #require(first["id"] as? String)
        #expect(again["id"] as? String == id)
        // Its progress as Server-Sent Events: one `study` event per change, the stream ends
        // with the event that says it completed.
        let stream = try SSEClient(port: server.port, path: "/api/v1/studies/\(id)/events", timeoutSeconds: 30)
        #expect(stream.status == 200)
        let events = stream.drain(seconds: 120)
        #expect(stream.ended || stream.closed, "the stream ends when the study completes")
        #expect(!events.isEmpty && events.allSatisfy { $0.event == "study" && $0.json?["study_id"] as? String == id })
        #expect(events.last?.json?["status"] as? String == "completed")
        #expect(events.map(\.id) == (1...events.count).map { "\($0)" })
        #expect(try server.request("GET", "/api/v1/studies/\(UUID().uuidString.lowercased())/events").status == 404)
        let done = try server.waitForStudy(id, within: 120) { $0["status"] as? String == "completed" }
        #expect((done["groups"] as? [[String: Any]])?.map { $0["name"] as? String } == ["a", "wide"])
        #expect((done["verdicts"] as? [[String: Any]])?.map { $0["control"] as? String } == ["wide"])
        let comparison = try #require(((done["verdicts"] as? [[String: Any]])?.first?["comparisons"] as? [[String: Any]])?.first)
        #expect(comparison["arm_n"] as? Int == 2 && comparison["control_n"] as? Int == 2)
    }

    @Test func pauseResumeStopAndDeleteConflicts() throws {
        let server = try ServerHarness(environment: ["ESPER_MAX_CONCURRENT_RUNS": "1"])
        let study = try server.createStudy(#"{"name": "long", "base": \#(endlessRun), "arms": [{"name": "a"}], "seeds": [1, 2]}"#)
        let id = try #require(study["id"] as? String)
        _ = try server.waitForStudy(id, within: 60) { (($0["progress"] as? [String: Any])?["running"] as? Int ?? 0) == 1 }
        #expect(try server.request("DELETE", "/api/v1/studies/\(id)").status == 409)
        let runId = try #require(((study["groups"] as? [[String: Any]])?.first?["runs"] as? [[String: Any]])?.first?["run_id"] as? String)
        #expect(try server.request("DELETE", "/api/v1/runs/\(runId)").status == 409)
        let paused = try server.object("POST", "/api/v1/studies/\(id)/pause")
        #expect(paused["state"] as? String == "paused")
        let held = try server.waitForStudy(id, within: 60) { (($0["progress"] as? [String: Any])?["paused"] as? Int ?? 0) == 2 }
        #expect((held["progress"] as? [String: Any])?["paused"] as? Int == 2 && held["status"] as? String == "paused")
        #expect(try server.object("POST", "/api/v1/studies/\(id)/resume")["state"] as? String == "active")
        let stopped = try server.object("POST", "/api/v1/studies/\(id)/stop")
        #expect(stopped["state"] as? String == "stopped")
        let ended = try server.waitForStudy(id, within: 60) { (($0["progress"] as? [String: Any])?["cancelled"] as? Int ?? 0) == 2 }
        #expect(ended["status"] as? String == "stopped")
        #expect((ended["progress"] as? [String: Any])?["cancelled"] as? Int == 2)
        #expect(((ended["groups"] as? [[String: Any]])?.first?["failed"] as? [Any])?.count == 2, "cancelled runs are listed")
        #expect(try server.request("POST", "/api/v1/studies/\(id)/resume").status == 409)

        // A finished run can be deleted alone; the storage report counts what is left.
        let deleted = try server.request("DELETE", "/api/v1/runs/\(runId)")
        #expect(deleted.status == 204, "\(deleted.text)")
        #expect(try server.request("DELETE", "/api/v1/runs/\(runId)").status == 404)
        let storage = try server.object("GET", "/api/v1/storage")
        let kinds = try #require(storage["kinds"] as? [String: [String: Any]])
        #expect(Set(kinds.keys).isSuperset(of: ["runs_db", "checkpoints", "studies", "urza_artifacts", "field_reports", "redis", "other"]))
        #expect((kinds["studies"]?["files"] as? Int ?? 0) >= 1 && (kinds["runs_db"]?["bytes"] as? Int ?? 0) > 0)
        #expect(storage["bytes"] as? Int == kinds.values.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) })
        #expect(try server.request("DELETE", "/api/v1/studies/\(id)").status == 204)
    }
    /// The issue's acceptance test with `esper worker` processes: the study's runs are jobs two
    /// workers share; one is killed with SIGKILL while it trains a run of the study; the run
    /// resumes on the other from its checkpoint, the study completes, and its summary equals
    /// what the runs' own metrics give.
    @Test func aStudyCompletesOnTwoWorkersWhenOneIsKilled() throws {
        #expect(FileManager.default.isExecutableFile(atPath: EsperBinary.path), "build the esper executable first")
        let environment = WorkerProcessTests.busSettings.merging(ServerHarness.controlEnvironment) { $1 }
        let cluster = try WorkerProcessTests.Cluster(environment: environment)
        let first = try cluster.worker(environment)
        let second = try cluster.worker(environment)
        let port = cluster.server.port
        // Long enough (a few seconds a run) that the worker is killed in the middle of one.
        let epochs = 200
        func get(_ path: String) throws -> [String: Any] { try RawHTTP.json(RawHTTP.request(port: port, path: path)) }
        let created = try RawHTTP.request(
            port: port, method: "POST", path: "/api/v1/studies", headers: ["Content-Type": "application/json"],
            body: Array(growthStudy(epochs: epochs).utf8))
        #expect(created.status == 202, "\(created.text)")
        let id = try #require(try RawHTTP.json(created)["id"] as? String)

        // Kill the first worker while it holds a run of the study a few epochs in.
        var victim: String?
        #expect(
            try eventually(within: 120) {
                let runs = try get("/api/v1/runs?limit=500")["items"] as? [[String: Any]] ?? []
                let runIds = runs.filter { ($0["config"] as? [String: Any])?["experiment_name"] as? String == id }.compactMap {
                    $0["id"] as? String
                }
                for runId in runIds where try cluster.holder(of: runId) == first.pid {
                    if (3..<epochs / 2).contains(try cluster.run(runId)["epoch"] as? Int ?? 0) {
                        victim = runId
                        return true
                    }
                }
                return false
            }, "a worker log: \(first.log.suffix(2000))")
        let killed = try #require(victim)
        first.killHard()

        let deadline = Date().addingTimeInterval(600)
        var study = try get("/api/v1/studies/\(id)")
        while study["status"] as? String != "completed" && Date() < deadline {
            usleep(500_000)
            study = try get("/api/v1/studies/\(id)")
        }
        #expect(study["status"] as? String == "completed", "\(study["progress"] ?? "") \(second.log.suffix(2000))")
        #expect((study["progress"] as? [String: Any])?["succeeded"] as? Int == 9)
        let record = try cluster.run(killed)
        #expect(record["restarts"] as? Int == 1 && record["status"] as? String == "succeeded")
        #expect(try get("/api/v1/runs/\(killed)/metrics")["epochs"].map { ($0 as? [Any])?.count } == epochs, "every epoch once")
        _ = try checkSummaryMatchesTheRuns(study, epochs: epochs, get: get)
    }
    /// A crash between recording a study and submitting its runs (simulated: the study is
    /// recorded as `create` records it, nothing submitted): the monitor submits them.
    @Test func aStudyRecordedWithoutItsRunsGetsThemFromTheMonitor() throws {
        let server = try ServerHarness()
        let body = try JSONValue.parse(
            #"{"name": "orphan", "base": {"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 2, "learning_rate": 0.01}, "#
                + #""arms": [{"name": "a"}], "seeds": [1, 2], "controls": ["no_growth"]}"#)
        let request = try #require(StudyRequest.parse(body).request)
        let id = UUID().uuidString.lowercased()
        let studies = server.application.studies
        #expect(try studies.store.create(id: id, request: request, plan: StudyPlanner.plan(request, studyId: id), idempotencyKey: nil))
        let study = try server.waitForStudy(id, within: 120) { $0["status"] as? String == "completed" }
        #expect((study["progress"] as? [String: Any])?["succeeded"] as? Int == 4, "\(study["progress"] ?? "")")
        // Exactly one run per member: the idempotency key per member kept the monitor from doubling any.
        let runs = try #require(try server.object("GET", "/api/v1/runs?limit=500")["items"] as? [[String: Any]])
        let names = runs.filter { ($0["config"] as? [String: Any])?["experiment_name"] as? String == id }.compactMap {
            $0["name"] as? String
        }
        #expect(names.sorted() == ["a/no_growth/seed-1", "a/no_growth/seed-2", "a/seed-1", "a/seed-2"])
    }

    /// The finished-run caches behind the summary and the curves, driven past their limits (one
    /// outcome, three curve samples, against four 2-epoch runs): every read still equals what
    /// the runs' own histories give, read after read.
    @Test func summaryAndCurvesStayExactPastTheCacheLimits() throws {
        let server = try ServerHarness {
            $0.studyKeptOutcomes = 1
            $0.studyKeptCurveSamples = 3
        }
        let base = #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [8]}, "epochs": 2, "learning_rate": 0.01}"#
        let study = try server.createStudy(
            #"{"name": "small caches", "base": \#(base), "arms": [{"name": "a"}], "seeds": [1, 2], "#
                + #""fixed": [{"name": "wide", "overrides": {"model": {"hidden_sizes": [16]}}}]}"#)
        let id = try #require(study["id"] as? String)
        let done = try server.waitForStudy(id, within: 120) { $0["status"] as? String == "completed" }
        var finals: [String: [Double]] = [:]
        for group in try #require(done["groups"] as? [[String: Any]]) {
            let name = try #require(group["name"] as? String)
            for outcome in try #require(group["runs"] as? [[String: Any]]) {
                let runId = try #require(outcome["run_id"] as? String)
                let epochs = try #require(try server.object("GET", "/api/v1/runs/\(runId)/metrics")["epochs"] as? [[String: Any]])
                finals[name, default: []].append(try #require(epochs.last?["validation_accuracy"] as? Double))
            }
        }
        #expect(finals.keys.sorted() == ["a", "wide"] && finals.values.allSatisfy { $0.count == 2 })
        for _ in 0..<3 {
            let summary = try server.object("GET", "/api/v1/studies/\(id)")
            for group in try #require(summary["groups"] as? [[String: Any]]) {
                let name = try #require(group["name"] as? String)
                let stats = try #require((group["statistics"] as? [String: Any])?["final_validation_accuracy"] as? [String: Any])
                #expect(stats["n"] as? Int == 2)
                #expect(abs((stats["mean"] as? Double ?? .nan) - meanAndStd(finals[name]!).mean) < 1e-12, "\(name)")
            }
            let curves = try server.object("GET", "/api/v1/studies/\(id)/curves?metric=validation_accuracy")
            for curve in try #require(curves["groups"] as? [[String: Any]]) {
                let name = try #require(curve["name"] as? String)
                let points = try #require(curve["points"] as? [[String: Any]])
                #expect(points.count == 2 && points.allSatisfy { $0["n"] as? Int == 2 }, "\(name)")
                #expect(abs((points.last?["mean"] as? Double ?? .nan) - meanAndStd(finals[name]!).mean) < 1e-12, "\(name)")
            }
        }
    }

    /// Held-out test accuracy and training FLOPs in the summary: a tiny digits study with a
    /// fixed test split (its last 300 rows); every statistic and the verdicts' differences
    /// recomputed from the runs' own epoch histories.
    @Test func testAccuracyAndTrainingFlopsInTheSummaryMatchTheRuns() throws {
        let server = try ServerHarness()
        let base = #"{"dataset": {"kind": "digits", "test_rows": 300}, "model": {"hidden_sizes": [8]}, "epochs": 2, "learning_rate": 0.01}"#
        let study = try server.createStudy(
            #"{"name": "test split", "base": \#(base), "arms": [{"name": "a"}], "seeds": [1, 2], "#
                + #""fixed": [{"name": "wide", "overrides": {"model": {"hidden_sizes": [16]}}}]}"#)
        let id = try #require(study["id"] as? String)
        let done = try server.waitForStudy(id, within: 120) { $0["status"] as? String == "completed" }
        let groups = try #require(done["groups"] as? [[String: Any]])
        #expect(groups.map { $0["name"] as? String } == ["a", "wide"])
        var finalTests: [String: [Double]] = [:], flopsByGroup: [String: [Double]] = [:]
        for group in groups {
            let name = try #require(group["name"] as? String)
            let outcomes = try #require(group["runs"] as? [[String: Any]])
            #expect(outcomes.count == 2)
            var finals: [Double] = [], bests: [Double] = [], flops: [Double] = []
            for outcome in outcomes {
                let runId = try #require(outcome["run_id"] as? String)
                let epochs = try #require(try server.object("GET", "/api/v1/runs/\(runId)/metrics")["epochs"] as? [[String: Any]])
                #expect(epochs.count == 2 && epochs.allSatisfy { $0["held_out_split"] as? String == "test" })
                let accuracies = epochs.compactMap { $0["validation_accuracy"] as? Double }
                finals.append(try #require(accuracies.last))
                bests.append(try #require(accuracies.max()))
                flops.append(try #require(epochs.last?["total_training_flops"] as? Double))
                #expect(outcome["final_test_accuracy"] as? Double == finals.last)
                #expect(outcome["best_test_accuracy"] as? Double == bests.last)
                #expect(outcome["training_flops"] as? Double == flops.last)
            }
            #expect(flops.allSatisfy { $0 > 0 })
            finalTests[name] = finals
            flopsByGroup[name] = flops
            let statistics = try #require(group["statistics"] as? [String: Any])
            for (key, values) in [("final_test_accuracy", finals), ("best_test_accuracy", bests), ("training_flops", flops)] {
                let stats = try #require(statistics[key] as? [String: Any], "\(name) \(key)")
                let expected = meanAndStd(values)
                #expect(stats["n"] as? Int == 2)
                #expect(abs((stats["mean"] as? Double ?? .nan) - expected.mean) <= 1e-12 * max(1, abs(expected.mean)), "\(name) \(key)")
                #expect(
                    abs((stats["std"] as? Double ?? .nan) - (expected.std ?? .nan)) <= 1e-9 * max(1, abs(expected.std ?? 0)),
                    "\(name) \(key)")
                #expect(stats["min"] as? Double == values.min() && stats["max"] as? Double == values.max())
            }
        }
        // The wider fixed config costs more FLOPs per run than the arm's.
        #expect((flopsByGroup["wide"]?.min() ?? 0) > (flopsByGroup["a"]?.max() ?? .infinity))
        let verdict = try #require((done["verdicts"] as? [[String: Any]])?.first)
        #expect(verdict["control"] as? String == "wide")
        let comparisons = try #require(verdict["comparisons"] as? [[String: Any]])
        let byMetric = Dictionary(uniqueKeysWithValues: comparisons.compactMap { c in (c["metric"] as? String).map { ($0, c) } })
        let test = try #require(byMetric["final_test_accuracy"]), cost = try #require(byMetric["training_flops"])
        let testDifference = meanAndStd(finalTests["a"]!).mean - meanAndStd(finalTests["wide"]!).mean
        let flopsDifference = meanAndStd(flopsByGroup["a"]!).mean - meanAndStd(flopsByGroup["wide"]!).mean
        #expect(abs((test["difference"] as? Double ?? .nan) - testDifference) < 1e-12 && test["higher_is_better"] as? Bool == true)
        #expect(abs((cost["difference"] as? Double ?? .nan) - flopsDifference) <= 1e-9 * abs(flopsDifference))
        #expect(cost["higher_is_better"] as? Bool == false && cost["arm_n"] as? Int == 2 && cost["control_n"] as? Int == 2)
    }
}

/// Checks a completed digits growth study (arm `widen`, controls no_growth and static_final, 3
/// seeds) against the runs' own records, read through `get`: every statistic recomputed from
/// the runs' epoch histories, the controls' configs, the verdicts' differences.
func checkSummaryMatchesTheRuns(
    _ study: [String: Any], epochs expectedEpochs: Int, get: (String) throws -> [String: Any]
) throws -> (groups: [[String: Any]], finalAccuracies: [String: [Double]]) {
    let groups = try #require(study["groups"] as? [[String: Any]])
    #expect(groups.map { $0["name"] as? String } == ["widen", "widen/no_growth", "widen/static_final"])
    var finalAccuracies: [String: [Double]] = [:]
    var grownWidths: [UInt64: [Int]] = [:]
    for group in groups {
        let name = try #require(group["name"] as? String)
        let outcomes = try #require(group["runs"] as? [[String: Any]])
        #expect(outcomes.count == 3 && (group["failed"] as? [Any])?.isEmpty == true)
        var finals: [Double] = [], bests: [Double] = [], losses: [Double] = []
        for outcome in outcomes {
            let runId = try #require(outcome["run_id"] as? String)
            // Independently: the run's own epoch history.
            let metrics = try get("/api/v1/runs/\(runId)/metrics")
            let epochs = try #require(metrics["epochs"] as? [[String: Any]])
            #expect(epochs.count == expectedEpochs)
            let accuracies = epochs.compactMap { $0["validation_accuracy"] as? Double }
            finals.append(try #require(accuracies.last))
            bests.append(try #require(accuracies.max()))
            losses.append(try #require(epochs.last?["validation_loss"] as? Double))
            let run = try get("/api/v1/runs/\(runId)")
            let slots = try #require((run["latest_metrics"] as? [String: Any])?["slots"] as? [[String: Any]])
            let seed = UInt64(outcome["seed"] as? Int ?? -1)
            let hidden = try #require(
                (run["config"] as? [String: Any]).flatMap { ($0["model"] as? [String: Any])?["hidden_sizes"] as? [Int] })
            if name == "widen" {
                grownWidths[seed] = slots.compactMap { $0["width"] as? Int }
                #expect((run["config"] as? [String: Any])?["policy"] as? String == "heuristic")
            } else {
                #expect((run["config"] as? [String: Any])?["policy"] == nil, "controls train without a controller")
            }
            if name == "widen/static_final" { #expect(hidden == grownWidths[seed], "the grown run's final widths") }
            if name == "widen/no_growth" { #expect(hidden == [4]) }
            #expect(outcome["hidden_sizes"] as? [Int] == slots.compactMap { $0["width"] as? Int })
        }
        finalAccuracies[name] = finals
        let statistics = try #require(group["statistics"] as? [String: Any])
        for (key, values) in [
            ("final_validation_accuracy", finals), ("best_validation_accuracy", bests), ("final_validation_loss", losses),
        ] {
            let stats = try #require(statistics[key] as? [String: Any])
            let expected = meanAndStd(values)
            #expect(stats["n"] as? Int == 3)
            #expect(abs((stats["mean"] as? Double ?? .nan) - expected.mean) < 1e-12, "\(name) \(key)")
            #expect(abs((stats["std"] as? Double ?? .nan) - (expected.std ?? .nan)) < 1e-12, "\(name) \(key)")
            #expect(stats["min"] as? Double == values.min() && stats["max"] as? Double == values.max())
        }
    }
    #expect(grownWidths.values.contains { $0 != [4] }, "at least one run widened: \(grownWidths)")
    let grown = (try #require(groups.first?["statistics"] as? [String: Any]))
    #expect((grown["germinations"] as? [String: Any])?["n"] as? Int == 3)

    // Verdicts: the arm against each of its controls, difference of the means.
    let verdicts = try #require(study["verdicts"] as? [[String: Any]])
    #expect(verdicts.map { $0["control"] as? String } == ["widen/no_growth", "widen/static_final"])
    for verdict in verdicts {
        let control = try #require(verdict["control"] as? String)
        let accuracy = try #require((verdict["comparisons"] as? [[String: Any]])?.first)
        let difference = meanAndStd(finalAccuracies["widen"]!).mean - meanAndStd(finalAccuracies[control]!).mean
        #expect(abs((accuracy["difference"] as? Double ?? .nan) - difference) < 1e-12)
        #expect(["better", "worse", "not_distinguishable"].contains(accuracy["verdict"] as? String ?? ""))
        if let low = accuracy["ci_low"] as? Double, let high = accuracy["ci_high"] as? Double {
            #expect(low <= difference && difference <= high)
        }
    }

    return (groups, finalAccuracies)
}
