import EsperServer
import EsperTestSupport
import Foundation
import Logging
import Testing
import Tolaria

/// Run helpers over the shared harness.
extension ServerHarness {
    /// Submits a run config; expects 202 and returns the run id.
    func submit(_ json: String) throws -> String {
        let response = try request("POST", "/api/v1/runs", json: json)
        #expect(response.status == 202, "\(response.text)")
        let id = try #require(try RawHTTP.json(response)["id"] as? String)
        #expect(response.header("location") == "/api/v1/runs/\(id)")
        return id
    }

    func status(_ id: String) throws -> String? { try object("GET", "/api/v1/runs/\(id)")["status"] as? String }

    func waitFor(_ id: String, status wanted: String, within seconds: Double = 120) throws -> Bool {
        try eventually(within: seconds) { try self.status(id) == wanted }
    }
}

/// Runs that last until stopped: digits through two wide layers for the maximum of epochs.
let endlessRun = #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [256, 256]}, "epochs": 100000, "learning_rate": 0.001}"#
let quickRun = #"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 2, "learning_rate": 0.01}"#

@Suite(.serialized) struct RunRoutesTests {
    @Test func lifecyclePauseResumeStopAndConflicts() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 1 }
        let first = try app.submit(endlessRun)
        // A worker slot takes the job from the queue (asynchronously, within milliseconds).
        #expect(try app.waitFor(first, status: "running", within: 30))
        let second = try app.submit(endlessRun)
        #expect(try app.status(second) == "queued")

        // Pausing the running run hands its slot to the queued one.
        let paused = try app.request("POST", "/api/v1/runs/\(first)/pause")
        #expect(paused.status == 200)
        #expect(try RawHTTP.json(paused)["status"] as? String == "paused")
        #expect(try app.waitFor(second, status: "running"))
        #expect(try app.request("POST", "/api/v1/runs/\(first)/pause").status == 409)

        // Resuming it queues it behind the run that now holds the slot.
        let resumed = try app.object("POST", "/api/v1/runs/\(first)/resume")
        #expect(resumed["status"] as? String == "queued")
        let queued = try app.object("GET", "/api/v1/runs?status=queued")["items"] as? [[String: Any]]
        #expect(queued?.map { $0["id"] as? String } == [first])

        let stopped = try app.object("POST", "/api/v1/runs/\(second)/stop")
        #expect(stopped["status"] as? String == "cancelled")
        #expect(stopped["finished_at"] is String)
        #expect(try app.waitFor(first, status: "running"))
        for action in ["stop", "pause", "resume"] {
            let conflict = try app.request("POST", "/api/v1/runs/\(second)/\(action)")
            #expect(conflict.status == 409)
            #expect(conflict.header("content-type") == "application/problem+json")
            #expect((try RawHTTP.json(conflict)["detail"] as? String)?.contains("cancelled") == true)
        }

        // The resumed run trains on: epochs are recorded with real validation numbers.
        #expect(try eventually(within: 120) { (try app.object("GET", "/api/v1/runs/\(first)")["epoch"] as? Int ?? 0) >= 2 })
        let record = try app.object("GET", "/api/v1/runs/\(first)")
        let latest = try #require(record["latest_metrics"] as? [String: Any])
        #expect((latest["validation_accuracy"] as? Double ?? 0) > 0.5)
        #expect(latest["validation_samples"] as? Int == 359)
        #expect((record["timings"] as? [String: Any])?["boundary_ms"] is Double)
        let metrics = try app.object("GET", "/api/v1/runs/\(first)/metrics")
        #expect(((metrics["epochs"] as? [[String: Any]])?.count ?? 0) >= 2)
        #expect(try app.object("POST", "/api/v1/runs/\(first)/stop")["status"] as? String == "cancelled")
        let events = try app.object("GET", "/api/v1/runs/\(first)/metrics")["events"] as? [[String: Any]]
        #expect(events?.last?["kind"] as? String == "run_completed")
    }

    @Test func unknownAndMalformedIds() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 2 }
        let unknown = UUID().uuidString.lowercased()
        for path in ["/api/v1/runs/\(unknown)", "/api/v1/runs/\(unknown)/metrics"] {
            #expect(try app.request("GET", path).status == 404)
        }
        for action in ["pause", "resume", "stop"] {
            #expect(try app.request("POST", "/api/v1/runs/\(unknown)/\(action)").status == 404)
            #expect(try app.request("POST", "/api/v1/runs/not-a-uuid/\(action)").status == 400)
        }
        let malformed = try app.request("GET", "/api/v1/runs/\(unknown.uppercased())")
        #expect(malformed.status == 400)
        #expect((try RawHTTP.json(malformed)["errors"] as? [[String: Any]])?.first?["field"] as? String == "id")
        #expect(try app.request("DELETE", "/api/v1/runs/\(unknown)").status == 404)
        #expect(try app.request("PUT", "/api/v1/runs/\(unknown)").status == 405)
    }

    @Test func listsArePaginatedAndFilteredByStatus() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 2 }
        let ids = try (0..<3).map { _ in try app.submit(quickRun) }
        for id in ids { #expect(try app.waitFor(id, status: "succeeded")) }
        let first = try app.object("GET", "/api/v1/runs?limit=2")
        let firstItems = try #require(first["items"] as? [[String: Any]])
        #expect(firstItems.map { $0["id"] as? String } == [ids[2], ids[1]])
        let cursor = try #require(first["next_cursor"] as? String)
        let second = try app.object("GET", "/api/v1/runs?limit=2&cursor=\(cursor)")
        #expect((second["items"] as? [[String: Any]])?.map { $0["id"] as? String } == [ids[0]])
        #expect(second["next_cursor"] is NSNull)
        #expect((try app.object("GET", "/api/v1/runs?status=succeeded")["items"] as? [Any])?.count == 3)
        #expect((try app.object("GET", "/api/v1/runs?status=running")["items"] as? [Any])?.count == 0)
        let bad = try app.request("GET", "/api/v1/runs?limit=501&status=done&cursor=x")
        #expect(bad.status == 400)
        #expect(
            Set((try RawHTTP.json(bad)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []) == [
                "limit", "status", "cursor",
            ])

        // A finished run reports its whole history.
        let record = try app.object("GET", "/api/v1/runs/\(ids[0])")
        #expect(record["epoch"] as? Int == 2)
        #expect(record["global_step"] as? Int == 2 * 5)
        let epochs = try app.object("GET", "/api/v1/runs/\(ids[0])/metrics")["epochs"] as? [[String: Any]]
        #expect(epochs?.map { $0["epoch"] as? Int } == [0, 1])
        #expect(try app.request("POST", "/api/v1/runs/\(ids[0])/resume").status == 409)
    }

    @Test func badConfigsAndBadCSVFilesAre422NamingFieldsAndLines() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 2 }
        let invalid = try app.request(
            "POST", "/api/v1/runs",
            json: """
                {"dataset": {"kind": "spiral"}, "epochs": -1, "learning_rate": 0, "batch_size": "big", "optimiser": "adam"}
                """)
        #expect(invalid.status == 422)
        #expect(invalid.header("content-type") == "application/problem+json")
        let fields = (try RawHTTP.json(invalid)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
        #expect(Set(fields ?? []) == ["dataset.kind", "epochs", "learning_rate", "batch_size", "optimiser"])

        let datasets = app.application.configuration.dataDirectory + "/datasets"
        try Data("0.1,0.2,0\n0.3,0.4,1\n0.5,oops,1\n0.7,0\n".utf8).write(to: URL(fileURLWithPath: datasets + "/bad.csv"))
        let badCSV = try app.request(
            "POST", "/api/v1/runs", json: #"{"dataset": {"kind": "csv", "path": "bad.csv"}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(badCSV.status == 422)
        let messages = (try RawHTTP.json(badCSV)["errors"] as? [[String: Any]])?.compactMap { $0["message"] as? String }
        #expect(messages == ["line 3, column 2: 'oops' is not a number", "line 4: expected 3 columns, found 2"])

        try Data("0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,1\n0.7,0.1,0\n".utf8).write(to: URL(fileURLWithPath: datasets + "/good.csv"))
        let id = try app.submit(
            #"{"dataset": {"kind": "csv", "path": "good.csv", "validation_fraction": 0.25}, "epochs": 1, "learning_rate": 0.1}"#)
        #expect(try app.waitFor(id, status: "succeeded"))

        #expect(try app.request("POST", "/api/v1/runs", json: "{\"epochs\": ").status == 400)
        #expect(try app.request("POST", "/api/v1/runs").status == 400)
    }

    @Test func anIdempotencyKeyReturnsTheFirstRun() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 2 }
        let headers = ["Content-Type": "application/json", "Idempotency-Key": "abc-123"]
        let first = try RawHTTP.json(app.request("POST", "/api/v1/runs", json: quickRun, headers: headers))["id"] as? String
        let again = try app.request("POST", "/api/v1/runs", json: quickRun, headers: headers)
        #expect(again.status == 202)
        #expect(try RawHTTP.json(again)["id"] as? String == first)
        #expect((try app.object("GET", "/api/v1/runs")["items"] as? [Any])?.count == 1)
    }

    @Test func aHistoryFromAnEpochOnWithChosenFieldsAndItsBadParameters() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 1 }
        let id = try app.submit(#"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 4, "learning_rate": 0.01}"#)
        #expect(try app.waitFor(id, status: "succeeded"))
        let whole = try app.object("GET", "/api/v1/runs/\(id)/metrics")
        #expect((whole["epochs"] as? [Any])?.count == 4)
        let cut = try app.object("GET", "/api/v1/runs/\(id)/metrics?since=2&fields=train_loss,validation_loss")
        let epochs = try #require(cut["epochs"] as? [[String: Any]])
        #expect(epochs.map { $0["epoch"] as? Int } == [2, 3])
        #expect(epochs.allSatisfy { Set($0.keys) == ["epoch", "train_loss", "validation_loss"] })
        #expect(cut["status"] as? String == "succeeded" && cut["run_id"] as? String == id)
        for bad in ["since=-1", "since=x", "fields=", "fields=train_loss,nope", "since=1&fields=bogus"] {
            let response = try app.request("GET", "/api/v1/runs/\(id)/metrics?\(bad)")
            #expect(response.status == 400, "\(bad): \(response.text)")
        }
        let problems = try RawHTTP.json(app.request("GET", "/api/v1/runs/\(id)/metrics?since=-1&fields=nope"))
        #expect((problems["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == ["since", "fields"])
    }

    @Test func injectedNaNShowsARollbackEventAndTheRunRecovers() throws {
        let app = try ServerHarness { $0.maxConcurrentRuns = 2 }
        let id = try app.submit(
            """
            {"dataset": {"kind": "two_moons"}, "model": {"hidden_sizes": [16, 16]}, "epochs": 20, "learning_rate": 0.01,
             "seed": 42, "checkpoint_interval": 3, "fault_injection": {"nan_at_epoch": 7, "nan_at_batch": 2}}
            """)
        #expect(try app.waitFor(id, status: "succeeded"))
        let record = try app.object("GET", "/api/v1/runs/\(id)")
        #expect(record["rollbacks"] as? Int == 1)
        #expect(((record["latest_metrics"] as? [String: Any])?["validation_accuracy"] as? Double ?? 0) >= 0.97)
        let metrics = try app.object("GET", "/api/v1/runs/\(id)/metrics")
        let events = try #require(metrics["events"] as? [[String: Any]])
        // (A loaded machine may add budget warnings; they are not what this test is about.)
        let kinds = events.compactMap { $0["kind"] as? String }.filter { $0 != "epoch_hook_latency_high" }
        #expect(kinds == ["loss_non_finite", "rollback", "run_completed"])
        let rollback = try #require(events.first { $0["kind"] as? String == "rollback" })
        #expect((rollback["attributes"] as? [String: String])?["to_epoch"] == "6")
        #expect(rollback["level"] as? String == "warning")
        #expect((metrics["epochs"] as? [[String: Any]])?.map { $0["epoch"] as? Int } == Array(0..<20))
    }

    @Test func aGracefulStopLeavesRunsResumableAndTheNextStartFinishesThem() throws {
        let data = TemporaryDirectory("esper-data")
        let redis = try RedisTestServer()
        var app: ServerHarness? = try ServerHarness(data: data, redis: redis) { $0.maxConcurrentRuns = 1 }
        let running = try app!.submit(
            #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [128]}, "epochs": 300, "learning_rate": 0.003, "checkpoint_interval": 5}"#
        )
        let waiting = try app!.submit(quickRun)
        let paused = try app!.submit(quickRun)
        #expect(try app!.object("POST", "/api/v1/runs/\(paused)/pause")["status"] as? String == "paused")
        #expect(try eventually(within: 120) { (try app!.object("GET", "/api/v1/runs/\(running)")["epoch"] as? Int ?? 0) >= 6 })
        app = nil  // Application.stop: training threads stop at their next batch

        let again = try ServerHarness(data: data, redis: redis) { $0.maxConcurrentRuns = 1 }
        #expect(try again.waitFor(running, status: "succeeded", within: 300))
        #expect(try again.waitFor(waiting, status: "succeeded"))
        #expect(try again.status(paused) == "paused")
        let record = try again.object("GET", "/api/v1/runs/\(running)")
        #expect(record["restarts"] as? Int == 1)
        #expect((record["resumed_from_epoch"] as? Int ?? 0) >= 5)
        // Resumed runs go back on the job queue: queued until a worker slot takes them.
        #expect(try again.object("POST", "/api/v1/runs/\(paused)/resume")["status"] as? String == "queued")
        #expect(try again.waitFor(paused, status: "succeeded"))
    }

    @Test func theRunsSettingsAreValidatedConfiguration() throws {
        let directory = TemporaryDirectory()
        for (value, message) in [("0", "0 is outside 1...256"), ("many", "'many' is not an integer")] {
            #expect(throws: ConfigurationError(variable: "ESPER_MAX_CONCURRENT_RUNS", message: message)) {
                try Configuration.resolve(
                    flags: [:], environment: ["ESPER_MAX_CONCURRENT_RUNS": value, "ESPER_DATA_DIR": directory.path],
                    workingDirectory: directory.path)
            }
        }
        let configuration = try Configuration.resolve(
            flags: [:], environment: ["ESPER_DATA_DIR": directory.path, "ESPER_MAX_CONCURRENT_RUNS": "3"],
            workingDirectory: directory.path)
        #expect(configuration.maxConcurrentRuns == 3)
        #expect(configuration.blasThreads == 1)
        #expect(Configuration.variables.contains { $0.name == "ESPER_MAX_CONCURRENT_RUNS" })
    }
}
