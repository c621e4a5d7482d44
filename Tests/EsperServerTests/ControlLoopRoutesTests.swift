import EsperServer
import EsperTestSupport
import Foundation
import Leyline
import Oona
import Testing

/// The control loop through the REST API (README-morphogenesis §7): a server whose Urza holds
/// kernels for 16-wide slots, runs that grow (or do not) under Tamiyo, their seeds, field
/// reports on disk and on the bus, conservative mode, and a restart.
extension ServerHarness {
    /// Latency triggers off: on a busy machine a slow epoch hook switches conservative mode on
    /// by itself (as designed), and the high-risk blueprint of the harmful run is then never a
    /// candidate — what the runs do must not depend on the machine's load.
    static let controlEnvironment = [
        "ESPER_SEED_WIDTH": "16", "ESPER_COMPILE_STRATEGY": "emergency", "TAMIYO_LATENCY_TRIGGERS": "off",
    ]

    /// Compiles blueprints through Tezzeret's request pipeline (into Urza) and waits for them.
    /// A request that gets no answer (the whole suite shares two cores; one once timed out
    /// here) is sent again: the create carries an Idempotency-Key, the status read is a read.
    func compile(_ blueprints: [(id: String, parameters: String)]) throws {
        for blueprint in blueprints {
            let body = #"{"blueprint_id": "\#(blueprint.id)", "parameters": \#(blueprint.parameters)}"#
            let key = ["Idempotency-Key": "compile-\(blueprint.id)-\(UUID().uuidString)"]
            var created: RawResponse?
            for _ in 0..<3 where created == nil {
                created = try? request("POST", "/api/v1/tezzeret/jobs", json: body, headers: key)
            }
            let answer = try #require(created, "POST /api/v1/tezzeret/jobs got no answer three times")
            #expect(answer.status == 202, "\(answer.text)")
            let job = try #require(try RawHTTP.json(answer)["job_id"] as? String)
            #expect(
                eventually(within: 120) { (try? self.object("GET", "/api/v1/tezzeret/jobs/\(job)"))?["status"] as? String == "succeeded" },
                "\(blueprint.id) did not compile")
        }
    }

    func seeds(_ run: String) throws -> [[String: Any]] {
        try #require(try object("GET", "/api/v1/runs/\(run)/seeds")["items"] as? [[String: Any]])
    }

    func fieldReports(_ query: String) throws -> [[String: Any]] {
        try #require(try object("GET", "/api/v1/tamiyo/field-reports?\(query)")["items"] as? [[String: Any]])
    }
}

/// Run configs of the acceptance experiment: two moons, 2→16→slot(16)→16→2, ReLU, Adam 1e-3,
/// batch 128, fixed seeds; Tamiyo's heuristic grafts on a plateau.
enum AcceptanceRun {
    static func config(epochs: Int, seeds: String, policy: String = "heuristic") -> String {
        #"{"dataset": {"kind": "two_moons"}, "model": {"hidden_sizes": [16, 16]}, "epochs": \#(epochs), "batch_size": 128, "#
            + #""learning_rate": 0.001, "seed": 42, "checkpoint_interval": 50, "policy": "\#(policy)", "seeds": \#(seeds)}"#
    }

    /// Frozen-base mode once a seed germinates: whatever changes is the seed's doing.
    static let helpful = config(
        epochs: 230,
        seeds: #"{"slots": ["slot-0"], "blueprints": ["BP008"], "host_frozen": true, "min_training_epochs": 4, "max_germinations": 1}"#)
    static let harmful = config(
        epochs: 200,
        seeds:
            #"{"slots": ["slot-0"], "blueprints": ["BP045"], "approved_blueprints": ["BP045"], "allow_high_risk": true, "max_germinations": 1}"#
    )
    static let leaking = config(
        epochs: 200,
        seeds: #"{"slots": ["slot-0"], "blueprints": ["BP008"], "max_germinations": 1, "fault_injection": {"detach_leak": true}}"#)
    /// The seed stays in TRAINING to the end: the host must train exactly as without it.
    static let neverGrafted = config(
        epochs: 200,
        seeds:
            #"{"slots": ["slot-0"], "blueprints": ["BP008"], "min_training_epochs": 1000, "max_training_epochs": 1000, "max_germinations": 1}"#
    )
    static let plain =
        #"{"dataset": {"kind": "two_moons"}, "model": {"hidden_sizes": [16, 16]}, "epochs": 200, "batch_size": 128, "learning_rate": 0.001, "seed": 42, "checkpoint_interval": 50}"#
}

@Suite(.serialized) struct ControlLoopRoutesTests {
    @Test func theAcceptanceExperimentThroughTheAPI() throws {
        let data = TemporaryDirectory("esper-acceptance")
        // The first server lives in this closure; it stops when the closure returns.
        let (helpful, before) = try { () throws -> (String, Int) in
            let server = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data) { $0.maxConcurrentRuns = 2 }
            try server.compile([("BP001", "{}"), ("BP008", "{}"), ("BP045", #"{"frequency": 0.05}"#)])
            let bus = server.application.bus
            try bus.ensureConsumerGroup("acceptance-observer", streams: [.normal, .telemetry])

            // A helpful blueprint: grafted through every gate and fossilised, ΔParams = 280.
            let helpful = try server.submit(AcceptanceRun.helpful)
            // α = 0 is the host: a run whose seed never leaves TRAINING trains bit for bit like no seed.
            let shadowOnly = try server.submit(AcceptanceRun.neverGrafted)
            let plain = try server.submit(AcceptanceRun.plain)
            for id in [helpful, shadowOnly, plain] { #expect(try server.waitFor(id, status: "succeeded", within: 300)) }

            let seeds = try server.seeds(helpful)
            #expect(seeds.count == 1)
            let seed = try #require(seeds.first)
            let seedId = try #require(seed["seed_id"] as? String)
            #expect(seed["stage"] as? String == "SEED_STAGE_FOSSILIZED" && seed["parameters"] as? Int == 280)
            #expect(seed["blueprint_id"] as? String == "BP008" && seed["kernel_source"] as? String == "requested")
            #expect(seed["isolation_violations"] as? Int == 0 && seed["alpha"] as? Double == 1)
            let stages = (seed["history"] as? [[String: Any]])?.compactMap { $0["to"] as? String }
            #expect(
                stages == [
                    "SEED_STAGE_GERMINATING", "SEED_STAGE_TRAINING", "SEED_STAGE_GRAFTING", "SEED_STAGE_STABILIZING",
                    "SEED_STAGE_EVALUATING", "SEED_STAGE_FOSSILIZED",
                ])
            // The same lifecycle as Server-Sent Events, replayed from the bus: one `seed` event
            // per transition, and the germinate command that started it.
            let events = try SSEClient(
                port: server.port, path: "/api/v1/runs/\(helpful)/events?types=seed,command&last_event_id=0-0,0-0,0-0")
            var transitions: [String] = []
            var germinations = 0
            while transitions.last != "SEED_STAGE_FOSSILIZED", let event = events.nextEvent() {
                let data = event.json ?? [:]
                if event.event == "seed", data["kind"] as? String == "seed_transition" {
                    #expect(data["seed_id"] as? String == seedId)
                    transitions.append((data["attributes"] as? [String: Any])?["to"] as? String ?? "")
                }
                if event.event == "command", data["operation"] as? String == "SEED_OP_GERMINATE" { germinations += 1 }
            }
            #expect(transitions == stages)
            #expect(germinations == 1)
            let single = try server.object("GET", "/api/v1/runs/\(helpful)/seeds/\(seedId)")
            #expect(single["seed_id"] as? String == seedId)
            let record = try server.object("GET", "/api/v1/runs/\(helpful)")
            let slot = try #require(((record["latest_metrics"] as? [String: Any])?["slots"] as? [[String: Any]])?.first)
            #expect(slot["module"] as? String == "kasmina" && slot["parameters"] as? Int == 280)

            let report = try #require(try server.fieldReports("run=\(helpful)").first)
            #expect(report["outcome"] as? String == "FIELD_REPORT_OUTCOME_SUCCESS" && report["seed_id"] as? String == seedId)
            let metrics = try #require(report["metrics"] as? [String: Double])
            #expect(metrics["params_delta"] == 280 && (metrics["loss_delta"] ?? 0) <= -0.001)
            // The decisions behind it (Simic's data) only when asked for.
            #expect((report["trajectory"] as? [Any] ?? []).isEmpty)
            let full = try #require(try server.fieldReports("run=\(helpful)&trajectory=true").first)
            let steps = try #require(full["trajectory"] as? [[String: Any]])
            #expect(!steps.isEmpty && (steps.first?["features"] as? [Double])?.count == 32)
            #expect(try server.request("GET", "/api/v1/tamiyo/field-reports?trajectory=maybe").status == 400)

            let shadowCurve = try ControlLoopRoutesTests.validationCurve(server, shadowOnly)
            #expect(shadowCurve == (try ControlLoopRoutesTests.validationCurve(server, plain)))
            #expect(try server.seeds(shadowOnly).first?["stage"] as? String == "SEED_STAGE_TRAINING")
            #expect(shadowCurve.count == 200)

            // A harmful blueprint (NaN injection, approved for the test): culled by the isolation
            // breaker, its blueprint quarantined, the slot the bare host again.
            let harmful = try server.submit(AcceptanceRun.harmful)
            #expect(try server.waitFor(harmful, status: "succeeded", within: 300))
            let harmfulSeeds = try server.seeds(harmful)
            let mode = try server.object("GET", "/api/v1/tamiyo/mode")
            let culled = try #require(harmfulSeeds.first, "no seed; Tamiyo's mode: \(mode)")
            #expect(culled["stage"] as? String == "SEED_STAGE_CANCELLED" && culled["cull_reason"] as? String == "isolation_breach")
            #expect((culled["isolation_violations"] as? Int ?? 0) >= 3)
            #expect((culled["violations"] as? [[String: Any]])?.first?["check"] as? String == "non_finite")
            let harmfulRecord = try server.object("GET", "/api/v1/runs/\(harmful)")
            let harmfulSlot = try #require(((harmfulRecord["latest_metrics"] as? [String: Any])?["slots"] as? [[String: Any]])?.first)
            #expect(harmfulSlot["module"] as? String == "identity" && harmfulSlot["parameters"] as? Int == 0)
            #expect(try server.fieldReports("run=\(harmful)").first?["outcome"] as? String == "FIELD_REPORT_OUTCOME_REGRESSION")
            let policy = try server.object("GET", "/api/v1/tamiyo/policy")
            #expect((policy["quarantined_blueprints"] as? [[String: Any]])?.compactMap { $0["blueprint_id"] as? String } == ["BP045"])
            #expect(policy["network"] as? String == "esper-policy/2" && (policy["parameters"] as? Int ?? 0) > 20_000)

            // A seed attached without the detach: its gradient reaches the host, the split check
            // trips three times, the seed is culled.
            let leaking = try server.submit(AcceptanceRun.leaking)
            #expect(try server.waitFor(leaking, status: "succeeded", within: 300))
            let leak = try #require(try server.seeds(leaking).first)
            #expect(leak["cull_reason"] as? String == "isolation_breach")
            #expect((leak["violations"] as? [[String: Any]])?.allSatisfy { $0["check"] as? String == "blended_split" } == true)

            // Field reports and Kasmina/Tamiyo telemetry went out on the bus.
            server.application.tamiyo.flush()
            let consumer = OonaConsumer(client: bus, streams: [.normal, .telemetry], group: "acceptance-observer", name: "observer")
            var reports: [FieldReport] = []
            var commands: [AdaptationCommand] = []
            var sources = Set<String>()
            _ = eventually(within: 20) {
                _ = try? consumer.poll(count: 500, block: .milliseconds(100)) { delivery in
                    switch delivery.message {
                    case .fieldReport(let report): reports.append(report)
                    case .adaptationCommand(let command): commands.append(command)
                    case .telemetry(let packet): sources.insert(packet.sourceSubsystem)
                    default: break
                    }
                }
                return reports.count >= 3 && sources.isSuperset(of: ["kasmina", "tamiyo", "tolaria"])
            }
            consumer.close()
            #expect(Set(reports.map(\.trainingRunId)).isSuperset(of: [helpful, harmful, leaking]))
            #expect(reports.first { $0.trainingRunId == helpful }?.metrics["params_delta"] == 280)
            #expect(commands.contains { $0.annotations["run_id"] == helpful && $0.issuedBy == "tamiyo" })
            #expect(sources.isSuperset(of: ["kasmina", "tamiyo", "tolaria"]))

            // The reports survive a restart, and a torn last record is ignored on reload.
            let before = try server.fieldReports("limit=500").count
            #expect(before >= 3)
            return (helpful, before)
        }()
        let log = data.path + "/var/tamiyo/field_reports.log"
        let handle = try #require(FileHandle(forWritingAtPath: log))
        handle.seekToEndOfFile()
        handle.write(Data(#"0badc0de {"report_id":"torn","outc"#.utf8))
        try handle.close()
        let restarted = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        let after = try restarted.fieldReports("limit=500")
        #expect(after.count == before && !after.contains { $0["report_id"] as? String == "torn" })
        #expect(try restarted.fieldReports("run=\(helpful)").first?["outcome"] as? String == "FIELD_REPORT_OUTCOME_SUCCESS")
        #expect(try restarted.fieldReports("outcome=regression").count >= 2)
        // Seeds of runs that finished before the restart come back from the run registry, inactive.
        let restored = try restarted.object("GET", "/api/v1/runs/\(helpful)/seeds")
        #expect(restored["active"] as? Bool == false)
        #expect(
            (restored["items"] as? [[String: Any]])?.contains {
                $0["stage"] as? String == "SEED_STAGE_FOSSILIZED" && $0["parameters"] as? Int == 280
            }
                == true)
    }

    static func validationCurve(_ server: ServerHarness, _ run: String) throws -> [Double] {
        let epochs = try #require(try server.object("GET", "/api/v1/runs/\(run)/metrics")["epochs"] as? [[String: Any]])
        return epochs.compactMap { $0["validation_loss"] as? Double }
    }

    @Test func conservativeModeOverRESTChangesTheNextDecision() throws {
        let server = try ServerHarness(environment: ServerHarness.controlEnvironment) { $0.maxConcurrentRuns = 1 }
        try server.compile([("BP008", "{}"), ("BP036", #"{"experts": 4, "capacity": 1}"#)])
        let mode = try server.object("GET", "/api/v1/tamiyo/mode")
        #expect(mode["conservative"] as? Bool == false && mode["source"] as? String == "default")
        // The run prefers the (approved) experimental BP036, then BP008.
        let config = AcceptanceRun.config(
            epochs: 200,
            seeds: #"{"slots": ["slot-0"], "blueprints": ["BP036", "BP008"], "approved_blueprints": ["BP036"], "max_germinations": 1}"#)
        let normal = try server.submit(config)
        #expect(try server.waitFor(normal, status: "succeeded", within: 300))
        #expect(try server.seeds(normal).first?["blueprint_id"] as? String == "BP036")

        let set = try server.request("PUT", "/api/v1/tamiyo/mode", json: #"{"conservative": true, "reason": "incident 42"}"#)
        #expect(set.status == 200)
        let now = try RawHTTP.json(set)
        #expect(now["conservative"] as? Bool == true && now["reason"] as? String == "incident 42" && now["source"] as? String == "manual")
        let careful = try server.submit(config)
        #expect(try server.waitFor(careful, status: "succeeded", within: 300))
        #expect(try server.seeds(careful).first?["blueprint_id"] as? String == "BP008", "only the safe pool in conservative mode")

        #expect(try server.request("PUT", "/api/v1/tamiyo/mode", json: #"{"reason": "x"}"#).status == 422)
        #expect(try server.request("PUT", "/api/v1/tamiyo/mode", json: #"{"conservative": true, "mode": 1}"#).status == 400)
        let long = try server.request(
            "PUT", "/api/v1/tamiyo/mode", json: #"{"conservative": false, "reason": "\#(String(repeating: "x", count: 201))"}"#)
        #expect(long.status == 422 && long.text.contains("reason"))
        #expect(try server.object("PUT", "/api/v1/tamiyo/mode", json: #"{"conservative": false}"#)["conservative"] as? Bool == false)
    }

    @Test func seedRoutesValidateAndAnOperatorCullsALiveSeed() throws {
        let server = try ServerHarness(environment: ServerHarness.controlEnvironment) { $0.maxConcurrentRuns = 1 }
        try server.compile([("BP008", "{}")])
        // A long run whose seed germinates early and stays in training.
        let run = try server.submit(
            AcceptanceRun.config(
                epochs: 100_000,
                seeds:
                    #"{"slots": ["slot-0"], "blueprints": ["BP008"], "warmup_epochs": 0, "plateau_epochs": 1, "plateau_delta": 10, "min_training_epochs": 1000, "max_training_epochs": 1000}"#
            ))
        #expect(try eventually(within: 60) { try server.seeds(run).first?["stage"] as? String == "SEED_STAGE_TRAINING" })
        let seedId = try #require(try server.seeds(run).first?["seed_id"] as? String)
        let accepted = try server.request("POST", "/api/v1/runs/\(run)/seeds/\(seedId)/cull")
        let acceptedBody = try RawHTTP.json(accepted)
        #expect(accepted.status == 202 && acceptedBody["cull_requested"] as? Bool == true)
        #expect(
            try eventually(within: 60) {
                let seed = try server.object("GET", "/api/v1/runs/\(run)/seeds/\(seedId)")
                return seed["stage"] as? String == "SEED_STAGE_CANCELLED" && seed["cull_reason"] as? String == "operator"
            })
        #expect(try server.request("POST", "/api/v1/runs/\(run)/seeds/\(seedId)/cull").status == 409)
        #expect(
            try eventually(within: 30) {
                try server.fieldReports("run=\(run)").first?["outcome"] as? String == "FIELD_REPORT_OUTCOME_ABORTED"
            })
        let slots = try #require(try server.object("GET", "/api/v1/runs/\(run)/seeds")["slots"] as? [[String: Any]])
        #expect((slots.first?["embargo_until_epoch"] as? Int ?? 0) > 0)
        #expect(try server.object("POST", "/api/v1/runs/\(run)/stop")["status"] as? String == "cancelled")

        let unknown = UUID().uuidString.lowercased()
        #expect(try server.request("GET", "/api/v1/runs/\(unknown)/seeds").status == 404)
        #expect(try server.request("GET", "/api/v1/runs/\(run)/seeds/nope").status == 404)
        #expect(try server.request("GET", "/api/v1/runs/\(run)/seeds/bad%20id").status == 400)
        #expect(try server.request("POST", "/api/v1/runs/\(run)/seeds/nope/cull").status == 404)
        #expect(try server.request("GET", "/api/v1/runs/not-a-uuid/seeds").status == 400)
        let bad = try server.request("GET", "/api/v1/tamiyo/field-reports?outcome=great&limit=0&since=yesterday&run=x")
        #expect(bad.status == 400)
        #expect(
            (try RawHTTP.json(bad)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == [
                "run", "outcome", "since", "limit",
            ])
        #expect(try server.request("GET", "/api/v1/tamiyo/field-reports?colour=red").status == 400)
        #expect(try server.request("GET", "/api/v1/tamiyo/field-reports?cursor=zzz").status == 400)
    }

    @Test func runConfigsNameTheirBadSeedSettings() throws {
        let server = try ServerHarness(environment: ServerHarness.controlEnvironment)
        try server.compile([("BP008", "{}")])
        func problems(_ json: String) throws -> [String] {
            let response = try server.request("POST", "/api/v1/runs", json: json)
            #expect(response.status == 422, "\(response.text)")
            return (try RawHTTP.json(response)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
        }
        let base = #"{"dataset": {"kind": "two_moons"}, "model": {"hidden_sizes": [16, 16]}, "epochs": 2, "learning_rate": 0.01"#
        #expect(try problems(base + #", "seeds": {"blueprints": ["BP008"]}}"#) == ["seeds"])
        #expect(try problems(base + #", "policy": "clever"}"#) == ["policy"])
        #expect(
            try problems(base + #", "policy": "heuristic", "seeds": {"slots": ["slot-7"], "graft_steps": 0, "colour": 1}}"#)
                == ["seeds.slots[0]", "seeds.graft_steps", "seeds.colour"])
        #expect(
            try problems(
                base
                    + #", "policy": "heuristic", "seeds": {"blueprints": ["BP999", "../x"], "min_training_epochs": 9, "max_training_epochs": 3}}"#
            )
                == ["seeds.blueprints[1]", "seeds.min_training_epochs"])
        #expect(try problems(base + #", "policy": "heuristic", "seeds": {"blueprints": ["BP999"]}}"#) == ["seeds.blueprints[0]"])
        // Urza holds 16-wide kernels: a 32-wide slot cannot be grown.
        #expect(
            try problems(
                #"{"dataset": {"kind": "two_moons"}, "model": {"hidden_sizes": [32]}, "epochs": 2, "learning_rate": 0.01, "policy": "learned"}"#
            )
                == ["model.hidden_sizes[0]"])
        #expect(
            try problems(
                #"{"dataset": {"kind": "two_moons"}, "model": {"hidden_sizes": []}, "epochs": 2, "learning_rate": 0.01, "policy": "heuristic"}"#
            )
                == ["policy"])
        #expect(try server.request("POST", "/api/v1/runs", json: base + #", "policy": "learned"}"#).status == 202)
        // Recipe and growth settings are range-checked too.
        #expect(
            try problems(
                base
                    + #", "label_smoothing": 1, "input_noise": -1, "learning_rate_decay_epochs": 0, "policy": "heuristic", "seeds": {"parameter_budget": 0}}"#
            ) == ["label_smoothing", "input_noise", "learning_rate_decay_epochs", "seeds.parameter_budget"])
        // The risk engine's learning-rate bound and cooldown.
        #expect(
            try problems(
                base + #", "policy": "heuristic", "seeds": {"max_learning_rate_ratio": 1, "learning_rate_cooldown_epochs": -1}}"#)
                == ["seeds.max_learning_rate_ratio", "seeds.learning_rate_cooldown_epochs"])
        #expect(
            try problems(base + #", "policy": "heuristic", "seeds": {"max_learning_rate_ratio": "ten"}}"#) == [
                "seeds.max_learning_rate_ratio"
            ])
        let bounded = try server.request(
            "POST", "/api/v1/runs",
            json: base + #", "policy": "heuristic", "seeds": {"max_learning_rate_ratio": 4, "learning_rate_cooldown_epochs": 0}}"#)
        #expect(bounded.status == 202, "\(bounded.text)")
    }

    /// Approval-required blueprints over REST: a run whose only candidate is BP036 is held by
    /// the risk engine until an operator approves it, then it germinates; approvals validate
    /// their input and survive a restart.
    @Test func anApprovalReleasesAHeldBlueprintInARunningRun() throws {
        let data = TemporaryDirectory("esper-approvals")
        var server: ServerHarness? = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        try server!.compile([("BP036", #"{"experts": 4, "capacity": 1}"#)])
        func problems(_ json: String) throws -> (Int, [String]) {
            let response = try server!.request("POST", "/api/v1/tamiyo/approvals", json: json)
            return (
                response.status, (try? RawHTTP.json(response)["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } ?? []
            )
        }
        #expect(try problems(#"{"blueprint_id": "BP999"}"#) == (422, ["blueprint_id"]))
        #expect(try problems(#"{"blueprint_id": "BP008"}"#) == (422, ["blueprint_id"]), "BP008 needs no approval")
        #expect(try problems(#"{"blueprint_id": "../x", "reason": "\u0001"}"#) == (422, ["blueprint_id", "reason"]))
        #expect(try problems(#"{"blueprint_id": "BP036", "colour": 1}"#) == (400, ["colour"]))
        #expect(try problems(#"{}"#) == (422, ["blueprint_id"]))
        #expect(try server!.request("DELETE", "/api/v1/tamiyo/approvals/BP036").status == 404)

        let run = try server!.submit(
            AcceptanceRun.config(
                epochs: 100_000,
                seeds:
                    #"{"slots": ["slot-0"], "blueprints": ["BP036"], "plateau_epochs": 1, "plateau_delta": 10, "warmup_epochs": 1, "max_germinations": 1}"#
            ))
        // Held: the run trains past several plateaus without a seed.
        #expect(try eventually(within: 60) { (try server!.object("GET", "/api/v1/runs/\(run)")["epoch"] as? Int ?? 0) >= 20 })
        #expect(try server!.seeds(run).isEmpty)
        let approved = try server!.request("POST", "/api/v1/tamiyo/approvals", json: #"{"blueprint_id": "BP036", "reason": "reviewed"}"#)
        #expect(approved.status == 201, "\(approved.text)")
        #expect(try RawHTTP.json(approved)["blueprint_id"] as? String == "BP036")
        #expect(try server!.request("POST", "/api/v1/tamiyo/approvals", json: #"{"blueprint_id": "BP036"}"#).status == 200)
        #expect(try eventually(within: 60) { try server!.seeds(run).first?["blueprint_id"] as? String == "BP036" })
        _ = try server!.request("POST", "/api/v1/runs/\(run)/stop")
        #expect(try server!.waitFor(run, status: "cancelled", within: 60))

        server = nil
        let restarted = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        let items = try #require(try restarted.object("GET", "/api/v1/tamiyo/approvals")["items"] as? [[String: Any]])
        #expect(items.map { $0["blueprint_id"] as? String } == ["BP036"] && items.first?["reason"] as? String == "reviewed")
        #expect(try restarted.request("DELETE", "/api/v1/tamiyo/approvals/BP036").status == 204)
        #expect((try restarted.object("GET", "/api/v1/tamiyo/approvals")["items"] as? [Any])?.isEmpty == true)
    }

    /// A run whose host widened is suspended by a shutdown and resumes after the restart from
    /// its checkpoint with the wider host.
    @Test func aWidenedRunResumesWiderAfterARestart() throws {
        let data = TemporaryDirectory("esper-growth-resume")
        var server: ServerHarness? = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        let run = try server!.submit(
            #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [4]}, "epochs": 100000, "learning_rate": 0.01, "seed": 3, "#
                + #""checkpoint_interval": 1, "policy": "heuristic", "seeds": {"blueprints": ["widen-8"], "warmup_epochs": 1, "#
                + #""plateau_epochs": 1, "plateau_delta": 10, "min_training_epochs": 1, "graft_steps": 10, "stabilization_epochs": 0, "#
                + #""evaluation_epochs": 1, "improvement_threshold": 0, "max_germinations": 1}}"#)
        func width(_ server: ServerHarness) throws -> Int? {
            let latest = try server.object("GET", "/api/v1/runs/\(run)")["latest_metrics"] as? [String: Any]
            return (latest?["slots"] as? [[String: Any]])?.first?["width"] as? Int
        }
        func epoch(_ server: ServerHarness) throws -> Int { try server.object("GET", "/api/v1/runs/\(run)")["epoch"] as? Int ?? 0 }
        #expect(try eventually(within: 60) { try width(server!) == 12 })
        let before = try epoch(server!)
        server = nil

        let restarted = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        #expect(try eventually(within: 60) { try epoch(restarted) > before + 2 })
        #expect(try width(restarted) == 12, "resumed from a checkpoint of the widened host")
        // The worker's "resumed" record reaches the registry through the bus: wait for it.
        #expect(try eventually(within: 30) { try restarted.object("GET", "/api/v1/runs/\(run)")["restarts"] as? Int == 1 })
        #expect(try restarted.seeds(run).first?["stage"] as? String == "SEED_STAGE_FOSSILIZED")
        _ = try restarted.request("POST", "/api/v1/runs/\(run)/stop")
        #expect(try restarted.waitFor(run, status: "cancelled", within: 60))
    }

    /// Width growth through the API: a 64→4→10 digits host under the heuristic policy with the
    /// widening blueprint only (no slot kernel of width 4 exists, none is needed) — a forced
    /// plateau germinates widen-8, it passes its gates and fossilises, and the host's hidden
    /// layer is 12 wide afterwards.
    @Test func aGrowthRunAddsHiddenUnitsAndItsSeedsSurviveARestart() throws {
        let data = TemporaryDirectory("esper-growth")
        var server: ServerHarness? = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        let run = try server!.submit(
            #"{"dataset": {"kind": "digits"}, "model": {"hidden_sizes": [4]}, "epochs": 10, "learning_rate": 0.01, "seed": 3, "#
                + #""label_smoothing": 0.1, "input_noise": 0.1, "learning_rate_decay_epochs": 3, "policy": "heuristic", "#
                + #""seeds": {"blueprints": ["widen-8"], "warmup_epochs": 1, "plateau_epochs": 1, "plateau_delta": 10, "#
                + #""min_training_epochs": 1, "graft_steps": 10, "stabilization_epochs": 0, "evaluation_epochs": 1, "#
                + #""improvement_threshold": 0, "max_germinations": 1, "parameter_budget": 2409}}"#)
        #expect(try server!.waitFor(run, status: "succeeded", within: 120))
        let view = try server!.object("GET", "/api/v1/runs/\(run)/seeds")
        let seeds = try #require(view["items"] as? [[String: Any]])
        #expect(seeds.count == 1)
        #expect(seeds.first?["blueprint_id"] as? String == "widen-8")
        // The kernel is made for the host's shape; Tezzeret compiled and gated it at that shape
        // (64 inputs, 10 outputs) on demand, and Urza holds the checksummed artifact.
        #expect(seeds.first?["kernel_source"] as? String == "urza")
        #expect(seeds.first?["kernel_id"] as? String == "BP052-i64-o10")
        #expect(seeds.first?["stage"] as? String == "SEED_STAGE_FOSSILIZED")
        #expect(seeds.first?["parameters"] as? Int == 8 * 64 + 8 + 10 * 8, "ΔParams = k·(inputs + 1) + classes·k")
        let slots = try #require(view["slots"] as? [[String: Any]])
        #expect(slots.first?["width"] as? Int == 12, "the hidden layer grew from 4 to 12 units")
        let reports = try server!.fieldReports("run=\(run)")
        #expect(reports.first?["outcome"] as? String == "FIELD_REPORT_OUTCOME_SUCCESS")

        // After a restart the same seeds and slots are served from the run registry.
        server = nil
        let restarted = try ServerHarness(environment: ServerHarness.controlEnvironment, data: data)
        let restored = try restarted.object("GET", "/api/v1/runs/\(run)/seeds")
        #expect(restored["active"] as? Bool == false)
        let restoredSeeds = try #require(restored["items"] as? [[String: Any]])
        #expect(restoredSeeds.map { $0["seed_id"] as? String } == seeds.map { $0["seed_id"] as? String })
        #expect(restoredSeeds.first?["stage"] as? String == "SEED_STAGE_FOSSILIZED")
        #expect((restored["slots"] as? [[String: Any]])?.first?["width"] as? Int == 12)
        let seedId = try #require(seeds.first?["seed_id"] as? String)
        #expect(try restarted.object("GET", "/api/v1/runs/\(run)/seeds/\(seedId)")["blueprint_id"] as? String == "widen-8")
        #expect(try restarted.request("POST", "/api/v1/runs/\(run)/seeds/\(seedId)/cull").status == 409)
    }
}
