import EsperStorage
import EsperTestSupport
import Foundation
import Oona
import Testing

/// The blueprint API over real HTTP against a running server.
@Suite(.serialized) struct BlueprintRoutesTests {
    @Test func karnTemplatesSelectionAndValidation() throws {
        let server = try ServerHarness(forgeAtStart: false)

        let all = try server.json("/api/v1/karn/templates")
        let items = try #require(all["items"] as? [[String: Any]])
        #expect(items.count == 50 && all["next_cursor"] as? String != nil, "58 templates: a second page")
        #expect(items[0]["blueprint_id"] as? String == "BP001" && items[0]["kind"] as? String == "identity")
        let safe = try #require(try server.json("/api/v1/karn/templates?tier=SAFE&stage=2")["items"] as? [[String: Any]])
        #expect(safe.map { $0["blueprint_id"] as? String } == (15...21).map { String(format: "BP%03d", $0) })
        let highRisk = try #require(try server.json("/api/v1/karn/templates?tier=BLUEPRINT_TIER_HIGH_RISK")["items"] as? [[String: Any]])
        #expect(highRisk.count == 8 && highRisk.allSatisfy { $0["quarantine_only"] as? Bool == true })
        // Pagination: 20 + 20 + 18 with an opaque cursor.
        var seen: [String] = []
        var path = "/api/v1/karn/templates?limit=20"
        while true {
            let page = try server.json(path)
            seen += (page["items"] as? [[String: Any]] ?? []).compactMap { $0["blueprint_id"] as? String }
            guard let cursor = page["next_cursor"] as? String else { break }
            path = "/api/v1/karn/templates?limit=20&cursor=\(cursor)"
        }
        #expect(seen == (1...58).map { String(format: "BP%03d", $0) })

        // The widening family: SAFE catalog entries with their alias and parameter-count formula.
        let widen = try server.json("/api/v1/karn/templates/BP052")
        #expect(widen["family"] as? String == "widening" && widen["alias"] as? String == "widen-8" && widen["kind"] as? String == "widen")
        #expect(
            widen["tier"] as? String == "BLUEPRINT_TIER_SAFE" && widen["risk"] as? Double == 0.1
                && widen["approval_required"] as? Bool == false)
        #expect(widen["parameter_count"] as? String == "k·(d_in + 1) + d_out·k, k = 8")
        #expect(try server.json("/api/v1/karn/templates/BP021")["family"] as? String == "slot")
        let validWiden = try RawHTTP.json(try server.post("/api/v1/karn/templates/BP053/validate", #"{"parameters":{}}"#))
        #expect((validWiden["effective"] as? [String: Double]) == [:])
        #expect(try server.post("/api/v1/karn/templates/BP053/validate", #"{"parameters":{"units":16}}"#).status == 422)

        let one = try server.json("/api/v1/karn/templates/BP021")
        #expect(one["name"] as? String == "feedforward_gated" && one["tier"] as? String == "BLUEPRINT_TIER_SAFE")
        #expect(one["kind"] as? String == "gated_ffn" && one["risk"] as? Double == 0.5)
        #expect(((one["parameters"] as? [String: Any])?["hidden_multiple"] as? [String: Any])?["forge_default"] as? Double == 4)

        // Golden selection over HTTP; experimental results need an approval.
        let selected = try RawHTTP.json(try server.post("/api/v1/karn/select", #"{"context":"seed-0","conservative":true}"#))
        #expect(selected["blueprint_id"] as? String == "BP007" && selected["candidate_count"] as? Int == 10)
        let unapproved = try server.post("/api/v1/karn/select", #"{"context":"exp"}"#)
        #expect(unapproved.status == 403 && unapproved.text.contains("BP040") && unapproved.text.contains("/problems/approval-required"))
        let approved = try RawHTTP.json(try server.post("/api/v1/karn/select", #"{"context":"exp","approved":true}"#))
        #expect(approved["blueprint_id"] as? String == "BP040" && approved["context_hash_prefix"] as? Int == 3_715_798_125)
        #expect(try server.post("/api/v1/karn/select", #"{"tier":"HIGH_RISK"}"#).status == 422)
        #expect(try server.post("/api/v1/karn/select", #"{"tier":"EXPERIMENTAL","conservative":true}"#).status == 422)
        #expect(try server.post("/api/v1/karn/select", #"{"tier":"NOPE"}"#).status == 422)
        #expect(try server.post("/api/v1/karn/select", #"{"contxt":"x"}"#).status == 400)
        #expect(try RawHTTP.json(try server.post("/api/v1/karn/select"))["blueprint_id"] as? String == "BP001")

        let valid = try RawHTTP.json(try server.post("/api/v1/karn/templates/BP017/validate", #"{"parameters":{"heads":2.5}}"#))
        #expect((valid["effective"] as? [String: Double]) == ["heads": 3] && (valid["requested"] as? [String: Double]) == ["heads": 2.5])
        let invalid = try server.post("/api/v1/karn/templates/BP004/validate", #"{"parameters":{"dropuot":0.1}}"#)
        #expect(invalid.status == 422)
        let fields = (try RawHTTP.json(invalid)["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }.sorted()
        #expect(fields == ["parameters.dropout", "parameters.dropuot"])

        // API errors: unknown id 404, bad id 400, bad filter 422.
        #expect(try server.get("/api/v1/karn/templates/BP099").status == 404)
        #expect(try server.get("/api/v1/karn/templates/bp001").status == 400)
        #expect(try server.get("/api/v1/karn/templates/..").status == 400)
        #expect(try server.get("/api/v1/karn/templates?tier=MEDIUM").status == 422)
        #expect(try server.get("/api/v1/karn/templates?stage=9").status == 422)
        #expect(try server.get("/api/v1/karn/templates?limit=0").status == 422)
        #expect(try server.get("/api/v1/karn/templates?limit=501").status == 422)
        #expect(try server.get("/api/v1/karn/templates?cursor=garbage").status == 400)
        #expect(try server.get("/api/v1/karn/templates?teir=SAFE").status == 400)
        let problem = try server.get("/api/v1/karn/templates?tier=MEDIUM")
        #expect(problem.header("content-type") == "application/problem+json" && problem.text.contains("\"field\":\"tier\""))
    }

    /// The forge runs in the background at start; then the library, its files and the failure paths.
    @Test func forgeAtStartThenTheLibraryOverHTTP() throws {
        let server = try ServerHarness(forgeAtStart: true)
        // The server answers while the forge works in the background.
        #expect(try server.get("/api/v1/karn/templates/BP001").status == 200)
        let status = try server.waitForForge()
        let lastRun = try #require(status["last_run"] as? [String: Any])
        #expect((lastRun["compiled"] as? [String])?.count == 50 && (lastRun["failed"] as? [Any])?.isEmpty == true)
        #expect(lastRun["trigger"] as? String == "startup" && (status["pending"] as? [String])?.isEmpty == true)
        #expect(!FileManager.default.fileExists(atPath: server.dataDirectory + "/urza/forge_wal.json"))

        let page = try server.json("/api/v1/urza/blueprints?limit=30")
        #expect((page["items"] as? [Any])?.count == 30)
        let cursor = try #require(page["next_cursor"] as? String)
        let rest = try server.json("/api/v1/urza/blueprints?limit=30&cursor=\(cursor)")
        #expect((rest["items"] as? [Any])?.count == 20 && rest["next_cursor"] is NSNull)
        let quarantined = try #require(try server.json("/api/v1/urza/blueprints?quarantined=true")["items"] as? [[String: Any]])
        #expect(quarantined.count == 8 && quarantined.allSatisfy { $0["validation_status"] as? String == "UNSAFE" })
        #expect((try server.json("/api/v1/urza/blueprints?tier=EXPERIMENTAL")["items"] as? [Any])?.count == 7)
        #expect((try server.json("/api/v1/urza/blueprints?state=corrupt")["items"] as? [Any])?.count == 0)

        let record = try server.json("/api/v1/urza/blueprints/BP009")
        #expect(record["state"] as? String == "AVAILABLE" && record["kind"] as? String == "residual_mlp")
        #expect(record["seed_width"] as? Int == 64 && record["artifact_path"] == nil)
        let sha = try #require(record["artifact_sha256"] as? String)

        // The artifact by id and by hash: the bytes hash to the advertised SHA-256.
        let download = try server.get("/api/v1/urza/artifacts/BP009")
        #expect(download.status == 200 && download.header("content-type") == "application/octet-stream")
        #expect(download.header("x-esper-sha256") == sha && Checksum.sha256Hex(download.body) == sha)
        #expect(download.header("digest") == "sha-256=" + Data(Checksum.sha256(download.body)).base64EncodedString())
        #expect(try server.get("/api/v1/urza/artifacts/\(sha)").body == download.body)
        #expect(try server.get("/api/v1/urza/artifacts/BP045").status == 403)  // quarantine-only
        #expect(try server.get("/api/v1/urza/artifacts/BP045?allow_quarantine=true").status == 200)

        // Ids are validated before anything is looked up: no path ever reaches the filesystem.
        for bad in ["..", "%2e%2e", "..%2F..%2Fetc%2Fpasswd", "BP9999", "bp009", String(repeating: "A", count: 64)] {
            let response = try server.get("/api/v1/urza/artifacts/\(bad)")
            #expect(response.status == 400 || response.status == 404, "\(bad): \(response.status)")
            #expect(!response.text.contains("root:"))
        }
        #expect(try server.get("/api/v1/urza/artifacts/..").status == 400)
        #expect(try server.get("/api/v1/urza/blueprints/..").status == 400)
        #expect(try server.get("/api/v1/urza/blueprints/BP099").status == 404)
        #expect(try server.get("/api/v1/urza/artifacts/\(String(repeating: "0", count: 64))").status == 404)
        #expect(try server.get("/api/v1/urza/blueprints?quarantined=maybe").status == 422)
        #expect(try server.get("/api/v1/urza/blueprints?state=BROKEN").status == 422)
        #expect(try server.get("/api/v1/urza/blueprints?tier=0").status == 422)

        // A flipped byte: detected by verify, quarantined, recompiled by the next forge run.
        let path = server.dataDirectory + "/urza/artifacts/BP009/\(sha).esk"
        var bytes = try #require(try AtomicFile.read(path))
        bytes[bytes.count - 64] ^= 0x02
        try AtomicFile.write(bytes, to: path)
        let report = try RawHTTP.json(try server.post("/api/v1/urza/verify"))
        #expect(report["corrupt"] as? [String] == ["BP009"] && report["checked"] as? Int == 50)
        #expect(FileManager.default.fileExists(atPath: server.dataDirectory + "/urza/quarantine/BP009/\(sha).esk.corrupt"))
        #expect(
            eventually(within: 120) {
                let now = try? server.json("/api/v1/urza/blueprints/BP009")
                return now?["state"] as? String == "AVAILABLE" && now?["artifact_sha256"] as? String != sha
            })
        let healed = try server.json("/api/v1/urza/blueprints/BP009")
        #expect(try server.get("/api/v1/urza/artifacts/BP009").header("x-esper-sha256") == healed["artifact_sha256"] as? String)
        let health = try RawHTTP.json(try server.get("/healthz"))
        #expect(((health["checks"] as? [String: Any])?["blueprints"] as? [String: Any])?["status"] as? String == "ok")
    }

    @Test func compileJobsAndForgeRequests() throws {
        let server = try ServerHarness(forgeAtStart: false)
        #expect(try server.json("/api/v1/tezzeret/forge")["state"] as? String == "idle")

        let created = try server.post(
            "/api/v1/tezzeret/jobs", #"{"blueprint_id":"BP002","parameters":{"scale":1.75},"training_run_id":"run-7"}"#,
            headers: ["Idempotency-Key": "abc"])
        #expect(created.status == 202)
        let job = try RawHTTP.json(created)
        let jobId = try #require(job["job_id"] as? String)
        #expect(created.header("location") == "/api/v1/tezzeret/jobs/\(jobId)")
        let replay = try RawHTTP.json(
            try server.post(
                "/api/v1/tezzeret/jobs", #"{"blueprint_id":"BP002","parameters":{"scale":1.75}}"#,
                headers: ["Idempotency-Key": "abc"]))
        #expect(replay["job_id"] as? String == jobId)
        #expect(eventually(within: 60) { (try? server.json("/api/v1/tezzeret/jobs/\(jobId)"))?["status"] as? String == "succeeded" })
        let done = try server.json("/api/v1/tezzeret/jobs/\(jobId)")
        let stored = try server.json("/api/v1/urza/blueprints/BP002")
        #expect(done["artifact_sha256"] as? String == stored["artifact_sha256"] as? String)
        #expect(stored["parameters"] as? [String: Double] == ["scale": 1.75])
        // The compile went through the job queue: one entry on jobs.compile (the idempotent
        // replay added none), acknowledged by the workers' group.
        let bus = server.application.bus
        let entries = try bus.execute([["XRANGE", bus.keys.key(.jobsCompile), "-", "+"]])[0].array ?? []
        #expect(entries.count == 1)
        #expect(entries.first?.array?.last?.array?.compactMap(\.text).contains { $0.contains(jobId) } == true)
        #expect(try bus.execute([["XPENDING", bus.keys.key(.jobsCompile), "workers"]])[0].array?.first?.integer == 0)

        #expect(try server.post("/api/v1/tezzeret/jobs", #"{"blueprint_id":"BP099","parameters":{}}"#).status == 404)
        #expect(try server.post("/api/v1/tezzeret/jobs", #"{"blueprint_id":"../x","parameters":{}}"#).status == 422)
        #expect(try server.post("/api/v1/tezzeret/jobs", #"{"blueprint_id":"BP002","parameters":{"scale":9}}"#).status == 422)
        let shape = try server.post("/api/v1/tezzeret/jobs", #"{"blueprint_id":"BP013","parameters":{"groups":5}}"#)
        #expect(shape.status == 422 && shape.text.contains("/problems/shape-invalid") && shape.text.contains("parameters.groups"))
        #expect(try server.post("/api/v1/tezzeret/jobs", #"{"blueprint":"BP002"}"#).status == 422)  // blueprint_id missing
        #expect(try server.get("/api/v1/tezzeret/jobs/job-0000000000000000").status == 404)
        #expect(try server.get("/api/v1/tezzeret/jobs/../../etc").status == 404)
        #expect(try server.get("/api/v1/tezzeret/jobs/job-xyz").status == 400)

        // A forge request is accepted at once (202) and runs in the background.
        let forge = try server.post("/api/v1/tezzeret/forge")
        #expect(forge.status == 202 && forge.header("location") == "/api/v1/tezzeret/forge")
        let status = try server.waitForForge()
        let lastRun = try #require(status["last_run"] as? [String: Any])
        #expect(
            (lastRun["compiled"] as? [String])?.count == 49 && lastRun["skipped"] as? Int == 1 && lastRun["trigger"] as? String == "api")
        #expect(try server.get("/api/v1/tezzeret/forge?x=1").status == 400)
    }
}
