import EsperTestSupport
import Foundation
import Kasmina
import Leyline
import Logging
import TamiyoNetwork
import Testing
import Tolaria

@testable import Tamiyo

/// The closed loop in process (the REST version lives in the server tests): real training,
/// real grafting, Tamiyo's heuristic and learned policies, the risk engine, field reports.
@Suite(.serialized) struct ControlLoopTests {
    /// The acceptance experiment in frozen-base mode (the paper's setting, which the primer asks
    /// to support): once the validation loss plateaus, BP008 (16 → 8 → 16) is grafted and only
    /// the seed learns, so whatever changes is the seed's doing.
    static func acceptance(
        epochs: Int = 260, blueprints: [String] = ["BP008"], configure: (inout SeedSettings) -> Void = { _ in }
    ) -> RunConfig {
        ControlFixture.moons(epochs: epochs) { seeds in
            seeds.blueprints = blueprints
            seeds.hostFrozen = true
            seeds.minTrainingEpochs = 4
            seeds.maxGerminations = 1
            configure(&seeds)
        }
    }

    static func summaries(_ run: ControlFixture.Run) -> [AdaptationCommandSummary] {
        run.controller.commands.map(AdaptationCommandSummary.init)
    }

    @Test func aHelpfulSeedIsGraftedThroughEveryGateAndFossilised() throws {
        let fixture = try ControlFixture()
        let run = try fixture.run(ControlLoopTests.acceptance(), id: "accept")
        #expect(run.outcome == .completed)
        let lines = ControlLoopTests.summaries(run).map(\.text)
        let id = try #require(run.controller.commands.first?.targetSeedId)
        #expect(lines.map { $0.split(separator: " ").dropFirst().first.map(String.init) ?? "" }.allSatisfy { $0 == "COMMAND_SEED" })
        let operations = run.controller.commands.compactMap { command -> SeedOperation? in
            if case .seedOperation(let op)? = command.payload { return op.operation } else { return nil }
        }
        #expect(operations == [.germinate, .startGrafting, .stabilize, .evaluate, .fossilize], "\(lines)")
        #expect(run.controller.commands.allSatisfy { $0.annotations["executed"] == "true" })
        // Germinated on a plateau, after the warm-up.
        let germinatedAt = try #require(Int(run.controller.commands[0].annotations["epoch"] ?? ""))
        #expect(germinatedAt > 100)

        let module = try #require(run.trainer.model.slots[0].module as? SlotModule)
        #expect(module.fossils.map(\.id) == [id] && module.fossils[0].parameterCount == 280)
        #expect(run.sink.summaries.last?.slots[0].parameters == 280)
        #expect(run.controller.kasmina.isolationViolations == 0)

        fixture.service.flush()
        let report = try #require(fixture.service.fieldReports.all.first)
        #expect(report.outcome == .success && report.seedId == id && report.blueprintId == "BP008")
        #expect(report.metrics["params_delta"] == 280)
        // The run's training FLOPs when the seed's outcome was measured (Tolaria counts them).
        let flops = try #require(report.metrics["run_training_flops"])
        #expect(flops > 0 && Double(flops) <= (run.sink.summaries.last?.totalTrainingFlops ?? 0) * 1.0001)
        let lossDelta = try #require(report.metrics["loss_delta"])
        #expect(lossDelta <= -0.001, "the validation loss fell by at least the gate's 0.001")
        #expect(report.metrics["validation_loss_after"]! < report.metrics["validation_loss_before"]!)
        #expect(report.observationWindowEpochs >= 1 && report.commandId == run.controller.commands[0].commandId)
        // Frozen host: the ablation (seed bypassed) is exactly the pre-graft model.
        #expect(abs(report.metrics["ablation_loss_delta"]! + lossDelta) < 1e-3)
    }

    @Test func identicalRunsGiveIdenticalCurvesAndCommandSequences() throws {
        let fixture = try ControlFixture()
        let config = ControlLoopTests.acceptance(epochs: 230)
        let a = try fixture.run(config, id: "same")
        let b = try fixture.run(config, id: "same")
        #expect(a.sink.summaries.map(\.validationLoss) == b.sink.summaries.map(\.validationLoss))
        #expect(a.sink.summaries.map(\.trainLoss) == b.sink.summaries.map(\.trainLoss))
        #expect(ControlLoopTests.summaries(a) == ControlLoopTests.summaries(b))
        #expect(a.controller.commands.map(\.commandId) == b.controller.commands.map(\.commandId))
        #expect(!a.controller.commands.isEmpty)
    }

    @Test func aNaNInjectingBlueprintIsPausedUnlessApprovedThenCulledAndQuarantined() throws {
        let fixture = try ControlFixture()
        // Without approval and the test override: the risk engine holds it (bp_quarantine).
        let held = try fixture.run(ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP045"]))
        let pause = try #require(held.controller.commands.first)
        #expect(pause.commandType == .pause && pause.annotations["risk_reason"] == "blueprint_high_risk")
        #expect(pause.annotations["original_command"] == "COMMAND_SEED/SEED_OP_GERMINATE" && pause.payload == nil)
        #expect(pause.annotations["blueprint_tier"] == "BLUEPRINT_TIER_HIGH_RISK" && pause.annotations["blueprint_risk"] == "1.00")
        #expect(held.trainer.model.slots[0].module == nil)

        // Approved with the override: grafted, three I5 violations, culled, quarantined.
        let config = ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP045"]) { seeds in
            seeds.approvedBlueprints = ["BP045"]
            seeds.allowHighRisk = true
        }
        let run = try fixture.run(config, id: "nan")
        #expect(run.controller.kasmina.guardian.violations.prefix(3).allSatisfy { $0.check == .nonFinite })
        #expect(run.trainer.model.slots[0].module == nil, "the host function is back")
        #expect(run.sink.summaries.allSatisfy { $0.validationLoss.isFinite })
        #expect(fixture.service.quarantineReason("BP045")?.contains("isolation_breach") == true)
        fixture.service.flush()
        let report = try #require(fixture.service.fieldReports.all.first { $0.trainingRunId == "nan" })
        #expect(report.outcome == .regression && report.metrics["isolation_violations"] == 3 && report.metrics["params_delta"] == 0)
        #expect(report.followUpActions.map(\.actionType).contains("QUARANTINE_BLUEPRINT"))
        // Quarantined for the breach: no longer a candidate even for an approved, overridden run,
        // and the risk engine would pause it if a policy proposed it.
        let again = try fixture.run(config, id: "nan-again")
        #expect(again.controller.commands.isEmpty && again.trainer.model.slots[0].module == nil)
        let proposal = AdaptationCommand(
            commandId: "p", commandType: .seed, targetSeedId: "seed-0-1", issuedBy: "tamiyo",
            payload: .seedOperation(CommandSeedOperation(operation: .germinate, blueprintId: "BP045")))
        let verdict = fixture.service.risk.review(
            proposal, lossDelta: 0, hasPreviousLoss: true, conservative: false, settings: config.effectiveSeeds,
            blueprint: { fixture.service.catalog.info($0) },
            quarantined: { fixture.service.quarantineReason($0) })
        #expect(
            verdict.command?.annotations["risk_reason"] == "blueprint_high_risk" && verdict.events.first?.description == "bp_quarantine")
    }

    @Test func approvalRequiredBlueprintsAreHeldUntilApproved() throws {
        let fixture = try ControlFixture()
        let held = try fixture.run(ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP036"]))
        #expect(held.controller.commands.first?.annotations["risk_reason"] == "approval_required")
        let approved = try fixture.run(
            ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP036"]) { $0.approvedBlueprints = ["BP036"] })
        let first = try #require(approved.controller.commands.first)
        #expect(first.commandType == .seed && first.annotations["executed"] == "true")
    }

    @Test func anOperatorApprovalReleasesHeldBlueprintsForEveryRunAndIsKept() throws {
        let fixture = try ControlFixture()
        let config = ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP036"])
        let held = try fixture.run(config)
        #expect(held.controller.commands.first?.annotations["risk_reason"] == "approval_required")
        #expect(held.controller.kasmina.germinations == 0)

        #expect(throws: ApprovalError.unknownBlueprint) { try fixture.service.approvals.approve("BP999", reason: "x") }
        #expect(throws: ApprovalError.notRequired) { try fixture.service.approvals.approve("BP008", reason: "x") }
        let (approval, created) = try fixture.service.approvals.approve("BP036", reason: "reviewed")
        #expect(created && approval.blueprintId == "BP036" && approval.reason == "reviewed")
        #expect(try fixture.service.approvals.approve("BP036", reason: "again").created == false)

        // The same config (no run-level approval) now germinates BP036.
        let released = try fixture.run(config)
        let first = try #require(released.controller.commands.first)
        #expect(first.commandType == .seed && first.annotations["executed"] == "true")
        #expect(released.controller.kasmina.germinations == 1)

        // Approvals are kept on disk: a new service over the same directory has it; revoking holds again.
        var logger = Logger(label: "tamiyo-test")
        logger.logLevel = .critical
        let reopened = try TamiyoService(
            settings: TamiyoSettings(directory: fixture.directory.path + "/tamiyo"), karn: fixture.library.catalog,
            urza: fixture.library.urza, kernels: UrzaKernelProvider(urza: fixture.library.urza), bus: nil, logger: logger)
        defer { reopened.stop() }
        #expect(reopened.approvals.all.map(\.blueprintId) == ["BP036"])
        #expect(try reopened.approvals.revoke("BP036") && !(try reopened.approvals.revoke("BP036")))
        #expect(!reopened.approvals.isApproved("BP036"))
    }

    @Test func conservativeModeRestrictsTheNextDecisionToTheSafePool() throws {
        let fixture = try ControlFixture()
        fixture.service.mode.set(true, reason: "test")
        // An approved experimental blueprint in conservative mode: not a candidate; nothing safe
        // is left, so no germination happens at all.
        let run = try fixture.run(ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP036"]) { $0.approvedBlueprints = ["BP036"] })
        #expect(run.controller.commands.isEmpty)
        // With a safe blueprint available too, that one is chosen.
        let safe = try fixture.run(
            ControlLoopTests.acceptance(epochs: 200, blueprints: ["BP036", "BP008"]) { $0.approvedBlueprints = ["BP036"] })
        let first = try #require(safe.controller.commands.first)
        if case .seedOperation(let op)? = first.payload { #expect(op.blueprintId == "BP008") } else { Issue.record("not a seed command") }
        // The risk engine pauses what a policy proposes outside the pool.
        let engine = RiskEngine()
        var command = AdaptationCommand(
            commandId: "x", commandType: .seed, targetSeedId: "seed-0-1", issuedBy: "tamiyo",
            payload: .seedOperation(CommandSeedOperation(operation: .germinate, blueprintId: "BP036")))
        command.annotations["slot"] = "slot-0"
        var settings = SeedSettings()
        settings.approvedBlueprints = ["BP036"]
        let verdict = engine.review(
            command, lossDelta: 0, hasPreviousLoss: true, conservative: true, settings: settings,
            blueprint: { fixture.service.catalog.info($0) }, quarantined: { _ in nil })
        #expect(verdict.command?.commandType == .pause && verdict.command?.annotations["risk_reason"] == "conservative_mode")
        #expect(verdict.events.map(\.description) == ["pause_triggered"])
        #expect(verdict.events.first?.attributes["conservative"] == "true")
        fixture.service.mode.set(false, reason: "test done")
        let normal = engine.review(
            command, lossDelta: 0, hasPreviousLoss: true, conservative: false, settings: settings,
            blueprint: { fixture.service.catalog.info($0) }, quarantined: { _ in nil })
        #expect(normal.command?.commandType == .seed)
    }

    @Test func aLossSpikePausesEveryLiveSeedButNotACull() throws {
        let engine = RiskEngine(maxLossSpike: 0.15)
        let spike = engine.review(
            nil, lossDelta: 0.2, hasPreviousLoss: true, conservative: false, settings: SeedSettings(),
            blueprint: { _ in nil }, quarantined: { _ in nil })
        #expect(spike.command?.commandType == .pause && spike.command?.targetSeedId == "" && spike.riskReason == "loss_spike")
        #expect(spike.events.first?.description == "pause_triggered" && spike.events.first?.attributes["loss_delta"] == "0.200")
        #expect(
            engine.review(
                nil, lossDelta: 0.2, hasPreviousLoss: false, conservative: false, settings: SeedSettings(),
                blueprint: { _ in nil }, quarantined: { _ in nil }
            ).command == nil, "no previous loss, no spike")
        let cull = AdaptationCommand(
            commandId: "c", commandType: .seed, targetSeedId: "s", issuedBy: "tamiyo",
            payload: .seedOperation(CommandSeedOperation(operation: .cull)))
        #expect(
            engine.review(
                cull, lossDelta: 0.5, hasPreviousLoss: true, conservative: false, settings: SeedSettings(),
                blueprint: { _ in nil }, quarantined: { _ in nil }
            ).command == cull)
        let optimizer = AdaptationCommand(
            commandId: "o", commandType: .optimizer, issuedBy: "tamiyo",
            payload: .optimizerAdjustment(CommandOptimizerAdjustment(hyperparameters: ["lr_delta": 0.1])))
        let conservative = engine.review(
            optimizer, lossDelta: 0, hasPreviousLoss: true, conservative: true, settings: SeedSettings(),
            blueprint: { _ in nil }, quarantined: { _ in nil })
        #expect(conservative.command?.annotations["original_command"] == "COMMAND_OPTIMIZER")
    }

    @Test func theLearnedPolicyIssuesOnlyValidCommandsDeterministically() throws {
        // A slow boundary on a loaded machine would switch conservative mode on and change
        // the decisions; determinism is about the policy, not the machine.
        let fixture = try ControlFixture { $0.latencyTriggers = false }
        let config = ControlFixture.moons(epochs: 120, policy: .learned) { seeds in
            seeds.blueprints = ["BP008", "BP009"]
            seeds.warmupEpochs = 0
        }
        let a = try fixture.run(config, id: "learned")
        let b = try fixture.run(config, id: "learned")
        #expect(ControlLoopTests.summaries(a) == ControlLoopTests.summaries(b))
        #expect(a.sink.summaries.map(\.validationLoss) == b.sink.summaries.map(\.validationLoss))
        for command in a.controller.commands {
            #expect(command.annotations["policy"] == "learned" && command.annotations["policy_version"] == "policy-init")
            #expect(Int(command.annotations["policy_action"] ?? "") != nil)
            if case .seedOperation(let op)? = command.payload, op.operation == .germinate {
                #expect(["BP008", "BP009"].contains(op.blueprintId) && command.annotations["slot"] == "slot-0")
            }
        }
        // Other weights, other decisions: what Simic's update must be able to do.
        try fixture.service.install(weights: PolicyWeights.initial(seed: 5, policyVersion: "policy-test"))
        let c = try fixture.run(config, id: "learned")
        #expect(c.controller.commands.allSatisfy { $0.annotations["policy_version"] == "policy-test" })
        #expect(fixture.service.policyInfo.version == "policy-test")
    }

    @Test func theHandshakeStaysWithinTheBudgetAndTelemetryCarriesTheSeeds() throws {
        let fixture = try ControlFixture()
        let run = try fixture.run(ControlLoopTests.acceptance(epochs: 220))
        let sorted = run.controller.handshakeMs.sorted()
        #expect(sorted.count == 220)
        // Budget sanity (timing assertions belong to bench/; this only guards against a
        // blocking call sneaking into the boundary).
        #expect(sorted[sorted.count / 2] < TamiyoController.hookBudgetMs)
        let packet = run.controller.kasmina.telemetryPacket()
        #expect(packet.sourceSubsystem == "kasmina")
        let names = Set(packet.metrics.map(\.name))
        #expect(
            names.isSuperset(of: [
                "kasmina.seeds.active", "kasmina.isolation.violations", "kasmina.seed.stage", "kasmina.seed.alpha",
                "kasmina.seed.parameters", "kasmina.seed.gradient_norm", "kasmina.seed.isolation_violations",
                "kasmina.seed.fetch_latency_ms", "kasmina.seed.fallback",
            ]))
        #expect(packet.events.contains { $0.description == "seed_stage" })
        let states = try #require(run.sink.summaries.last?.seeds)
        #expect(states.first?.metrics["alpha"] != nil && states.first?.metrics["parameters"] == 280)
        try LeylineCodec.check(packet)
        for command in run.controller.commands { try LeylineCodec.check(command) }
    }
    /// Width growth under the heuristic: a 4-unit digits host widens while the parameter budget
    /// allows (310 + 600 = 910 ≤ 1 000; then widen-8 or widen-4 would exceed it) and stops.
    @Test func theHeuristicWidensTheHostUntilTheBudgetRunsOut() throws {
        let fixture = try ControlFixture()
        var config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 30, learningRate: 0.01)
        config.model.hiddenSizes = [4]
        config.seed = 5
        config.policy = .heuristic
        var seeds = ControlFixture.quickGrowth(["widen-8", "widen-4"])
        seeds.parameterBudget = 1000
        config.seeds = seeds
        #expect(fixture.service.validate(config, architecture: HostArchitecture(inputs: 64, hiddenSizes: [4], classes: 10)).isEmpty)
        let run = try fixture.run(config)
        #expect(run.outcome == .completed)
        #expect(run.trainer.model.architecture.hiddenSizes == [12])
        #expect(run.trainer.model.architecture.parameterCount == 910)
        let germinations = run.controller.commands.compactMap { command -> String? in
            guard case .seedOperation(let op)? = command.payload, op.operation == .germinate else { return nil }
            return op.blueprintId
        }
        #expect(germinations == ["widen-8"], "nothing fits the budget after the first widening")
        #expect(run.sink.summaries.last.map { $0.validationAccuracy > run.sink.summaries[1].validationAccuracy } == true)
    }

    /// Fixed weights over the one network definition: the trunk silent (all zero), so the
    /// action head is its bias — germinate when legal, else advance, else wait — and the
    /// blueprint head scores a candidate by `sizeWeight` × its parameter feature only.
    static func wideningWeights(sizeWeight: Float) throws -> PolicyWeights {
        let config = PolicyNetworkConfig()
        var values = [Float](repeating: 0, count: PolicyWeights.parameterCount(config))
        var offset: [String: Int] = [:]
        var next = 0
        for tensor in PolicyWeights.layout(config) {
            offset[tensor.name] = next
            next += tensor.count
        }
        let actionBias = try #require(offset["action.bias"])
        values[actionBias + PolicyAction.wait.rawValue] = 1
        values[actionBias + PolicyAction.germinate.rawValue] = 10
        values[actionBias + PolicyAction.advance.rawValue] = 5
        // Feature 5 of a blueprint is log10(parameters + 1) / 4.
        values[try #require(offset["blueprint.meta.weight"]) + 5] = sizeWeight
        return try PolicyWeights(config: config, values: values, policyVersion: "policy-widening-\(sizeWeight)")
    }

    /// Issue 8 on the width-growth task: the learned policy's blueprint head ranges over the
    /// widening seeds that fit the budget (with the parameters each adds as metadata), its
    /// commands are executed, and the field reports of its widenings carry the decisions.
    @Test func theLearnedPolicyWidensTheHostWithinTheBudgetAsItsWeightsPrefer() throws {
        let fixture = try ControlFixture { $0.latencyTriggers = false }
        var config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 30, learningRate: 0.01)
        config.model.hiddenSizes = [4]
        config.seed = 5
        config.policy = .learned
        var seeds = SeedSettings()
        seeds.blueprints = ["widen-8", "widen-4"]
        seeds.warmupEpochs = 2
        seeds.graftSteps = 10
        seeds.embargoEpochs = 0
        seeds.parameterBudget = 1000
        config.seeds = seeds
        // 310 host parameters; widen-8 adds 600 and widen-4 300 here, so a budget of 1 000 holds
        // one widen-8, or two widen-4s, and then nothing.
        let cases: [(sizeWeight: Float, expected: [String])] = [(5, ["widen-8"]), (-5, ["widen-4", "widen-4"])]
        for (sizeWeight, expected) in cases {
            let id = "learned-widening-\(sizeWeight)"
            let run = try fixture.run(
                config, id: id, policy: LearnedPolicy(weights: try ControlLoopTests.wideningWeights(sizeWeight: sizeWeight)))
            #expect(run.outcome == .completed)
            let germinations = run.controller.commands.compactMap { command -> AdaptationCommand? in
                guard case .seedOperation(let op)? = command.payload, op.operation == .germinate else { return nil }
                return command
            }
            #expect(
                germinations.compactMap { command -> String? in
                    guard case .seedOperation(let op)? = command.payload else { return nil }
                    return op.blueprintId
                } == expected, "size weight \(sizeWeight)")
            for command in run.controller.commands {
                #expect(command.annotations["policy"] == "learned" && command.annotations["executed"] == "true", "\(command.annotations)")
                try LeylineCodec.check(command)
            }
            #expect(germinations.allSatisfy { $0.annotations["slot"] == "slot-0" })
            #expect(run.trainer.model.architecture.hiddenSizes == [12])
            #expect(run.trainer.model.architecture.parameterCount == 910)

            #expect(fixture.service.flush())
            let reports = fixture.service.fieldReports.all.filter { $0.trainingRunId == id }
            #expect(reports.map(\.blueprintId) == expected)
            for report in reports {
                #expect(report.outcome == .success)
                #expect(report.metrics["params_delta"] == Float(WideningBlueprint.units(report.blueprintId)! == 8 ? 600 : 300))
                // The decisions that led to the widening, as Simic trains on them.
                let germinate = try #require(report.trajectory.first { $0.action == UInt32(PolicyAction.germinate.rawValue) })
                #expect(germinate.validActions & (1 << UInt32(PolicyAction.germinate.rawValue)) != 0)
                #expect(
                    germinate.features.count == PolicyNetworkConfig().featureDim && germinate.logits.count == PolicyAction.allCases.count)
                #expect(report.trajectory.contains { $0.action == UInt32(PolicyAction.advance.rawValue) })
            }
        }
    }
}
