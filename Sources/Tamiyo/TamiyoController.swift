import EsperStorage
import Foundation
public import Kasmina
public import Leyline
import TamiyoNetwork
public import Tolaria

import enum Karn.DepthCatalog

/// Tamiyo for one run: Tolaria's `EpochController`, called on the training thread at every
/// epoch boundary. One boundary is
///
/// 1. Kasmina's first half: sync with the model, close the epoch's seed measurements, finish
///    culls begun during the epoch;
/// 2. the plateau bookkeeping and the observation (real epoch numbers, seeds, candidates);
/// 3. the policy's decision, then the risk engine (which may rewrite it to PAUSE);
/// 4. Kasmina executes the command (grafting happens here); its decisions go back to Tolaria;
/// 5. field reports for every seed whose lifecycle ended, quarantines after isolation
///    breaches, the command and the telemetry — all handed to the background worker, so the
///    boundary never waits for a disk or the bus.
public final class TamiyoController: EpochController, SeedModuleFactory {
    public let runId: String
    public let config: RunConfig
    public let settings: SeedSettings
    public let kasmina: SeedManager
    let policy: any TamiyoPolicy
    let service: TamiyoService

    private var lastValidationLoss: Double?
    /// The epoch of the last executed host learning-rate change (the risk engine's cooldown).
    private var lastLearningRateChangeEpoch: Int?
    private var bestValidationLoss = Double.infinity
    public private(set) var epochsSinceImprovement = 0
    /// Validation loss and accuracy per finished epoch (the field reports' windows).
    private var history: [(epoch: Int, loss: Double, accuracy: Double)] = []
    /// The run's training FLOPs at the last epoch boundary (Tolaria counts them).
    private var runTrainingFlops: Double?
    /// Per live seed, the run's training FLOPs when it germinated (its report's cost window).
    private var germinationFlops: [String: Double] = [:]
    /// The network's parameters (host and seeds) when each live seed germinated: what its graft grew.
    private var germinationParameters: [String: Int] = [:]
    private var failures: [String: Int] = [:]
    /// Trial outcomes per growth family (what the policies weigh families by).
    public private(set) var ledger = GrowthLedger()
    private var slowBoundaries = 0
    private var commandCounter = 0
    /// The run's risk engine state: levels with hysteresis, adapted thresholds, pause quota.
    public private(set) var assessor: RiskAssessor
    /// Every boundary's assessment, in order (the last `historyLimit`).
    public private(set) var riskHistory: [RiskReport] = []
    /// Fault injection for tests: rewrites the measured signals of a boundary (epoch) before
    /// they are assessed — instability injected into a real run's control loop.
    var injectRiskSignals: ((inout RiskSignals, Int) -> Void)?
    private var lastViolations = 0
    /// The policy's decisions since the previous field report of this run (what the next
    /// report carries for Simic), at most `FieldReport.maxTrajectorySteps`.
    private var trajectory: [PolicyStep] = []
    /// The commands issued (after the risk engine), in order — the run's command sequence
    /// (the last `historyLimit`; all of them go out on the bus).
    public private(set) var commands: [AdaptationCommand] = []
    /// Wall time of each boundary's Tamiyo + Kasmina part (the handshake), ms (the last `historyLimit`).
    public private(set) var handshakeMs: [Double] = []
    /// The policy's time per decision, ms (the last `historyLimit`).
    public private(set) var inferenceMs: [Double] = []
    /// How much of the above an endless run keeps in memory.
    public static let historyLimit = 100_000

    /// Epochs a field report's "after" window averages over (design default 3).
    static let observationWindow = 3
    /// Design budgets (03-tamiyo §6, §10).
    static let inferenceBudgetMs = 45.0
    static let hookBudgetMs = 18.0

    init(runId: String, config: RunConfig, service: TamiyoService, policy: any TamiyoPolicy, kasmina: SeedManager) {
        self.runId = runId
        self.config = config
        settings = config.effectiveSeeds
        self.service = service
        self.policy = policy
        self.kasmina = kasmina
        assessor = RiskAssessor(
            escalationWindows: service.settings.riskEscalationWindows, recoveryWindows: service.settings.riskRecoveryWindows,
            pauseQuota: service.settings.pauseQuota)
    }

    public var policyName: String { policy.name }

    public func makeModule(kind: String, slot: SeedSlot, checkpointState: [UInt8]) throws -> (any SeedSlotModule)? {
        try kasmina.makeModule(kind: kind, slot: slot, checkpointState: checkpointState)
    }

    public func endOfEpoch(_ state: EpochState) throws -> [EpochDecision] {
        let started = MonotonicClock.nanoseconds()
        // A newer policy (Simic's, or a rollback) takes effect here, at the boundary, before
        // this epoch's decision — never in the middle of an epoch.
        if let learned = policy as? LearnedPolicy, let generation = learned.generation,
            let (weights, newer) = service.weights(newerThan: generation)
        {
            learned.load(weights, generation: newer)
            service.publish(
                telemetry: TelemetryPacket.build(
                    packetId: "tamiyo-policy-reload-\(runId)-\(state.summary.epoch)", source: "tamiyo", level: .info, metrics: [],
                    events: [
                        TelemetryEvent(
                            description: "policy_reloaded", level: .info,
                            attributes: ["run_id": runId, "version": weights.policyVersion, "epoch": String(state.summary.epoch)])
                    ],
                    healthStatus: .healthy, healthSummary: "policy_reloaded"))
        }
        let summary = state.summary
        let (report, boundaryDecisions) = kasmina.beginBoundary(state)
        var decisions = boundaryDecisions.map(\.decision)
        var finished = report.finished

        // Plateau bookkeeping on the real validation loss.
        let lossDelta = lastValidationLoss.map { summary.validationLoss - $0 } ?? 0
        let hasPrevious = lastValidationLoss != nil
        if summary.validationLoss < bestValidationLoss - settings.plateauDelta {
            bestValidationLoss = summary.validationLoss
            epochsSinceImprovement = 0
        } else {
            epochsSinceImprovement += 1
            bestValidationLoss = min(bestValidationLoss, summary.validationLoss)
        }
        history.append((summary.epoch, summary.validationLoss, summary.validationAccuracy))
        runTrainingFlops = summary.totalTrainingFlops
        if history.count > 64 { history.removeFirst(history.count - 64) }

        let conservative = service.mode.isConservative
        let (candidates, candidateParameters) = candidates(report, conservative: conservative, architecture: state.architecture)
        var observation = PolicyObservation(
            summary: summary, lossDelta: lossDelta, bestValidationLoss: bestValidationLoss, epochsSinceImprovement: epochsSinceImprovement,
            kasmina: report, settings: settings, conservative: conservative, candidates: candidates, failures: failures,
            hostParameters: state.parameterGroups.filter { $0.name.hasPrefix("host.") }.reduce(0) { $0 + $1.count },
            learningRate: state.parameterGroups.first { $0.name.hasPrefix("host.") }?.learningRate ?? config.learningRate)
        observation.candidateParameters = candidateParameters
        observation.families = ledger.families

        let inferenceStart = MonotonicClock.nanoseconds()
        let decision = policy.decide(observation)
        let inference = MonotonicClock.milliseconds(since: inferenceStart)
        TamiyoController.append(inference, to: &inferenceMs)
        record(decision, observation)

        var signals = riskSignals(summary, report: report, hostParameters: observation.hostParameters)
        injectRiskSignals?(&signals, summary.epoch)
        let assessment = assessor.assess(signals, epoch: summary.epoch, validationLoss: summary.validationLoss)
        TamiyoController.append(assessment, to: &riskHistory)
        service.record(risk: assessment, runId: runId)
        if assessment.level == .critical {
            service.mode.trigger("risk level CRITICAL in run \(runId) (\(assessment.leadingDimension ?? "score"))")
        }
        let proposed = command(for: decision, observation)
        var verdict = service.risk.review(
            proposed, lossDelta: lossDelta, hasPreviousLoss: hasPrevious, conservative: conservative,
            settings: settings, blueprint: { self.service.catalog.info($0) },
            quarantined: { self.service.quarantineReason($0) }, approved: { self.service.approvals.isApproved($0) },
            learningRate: RiskEngine.LearningRateState(
                current: observation.learningRate, configured: config.learningRate,
                epochsSinceChange: lastLearningRateChangeEpoch.map { summary.epoch - $0 }),
            assessment: assessment, seedDrift: { id in report.seeds.first { $0.seedId == id }?.measurements.drift })
        // The pause quota: a pause the engine asks for beyond this epoch's quota is not issued.
        if let command = verdict.command, command.commandType == .pause, command.annotations["risk_reason"] != nil,
            !assessor.takePause()
        {
            verdict.events.append(
                TelemetryEvent(
                    description: "pause_quota_exhausted", level: .warning,
                    attributes: ["risk_reason": command.annotations["risk_reason"] ?? "", "quota": String(assessor.pauseQuota)]))
            verdict.command = nil
        }
        if let transition = assessment.transition {
            verdict.events.append(
                TelemetryEvent(
                    description: "risk_level_changed", level: assessment.level >= .red ? .critical : .warning,
                    attributes: [
                        "risk_level": assessment.level.name, "transition": transition,
                        "risk_dimension": assessment.leadingDimension ?? "score", "risk_score": String(format: "%.3f", assessment.score),
                    ]))
        }
        var outcome: (accepted: Bool, reason: String?)?
        if var command = verdict.command, verdict.refused {
            outcome = (false, verdict.riskReason)
            command.annotations["executed"] = "false"
            command.annotations["refusal"] = verdict.riskReason ?? "risk"
            TamiyoController.append(command, to: &commands)
            service.publish(command: command)
        } else if var command = verdict.command {
            let result = kasmina.execute(command, validation: (summary.validationLoss, summary.validationAccuracy))
            if result.accepted && command.commandType == .optimizer { lastLearningRateChangeEpoch = summary.epoch }
            if result.accepted, case .germinate = decision.proposal, let seedId = result.seedId {
                if let runTrainingFlops { germinationFlops[seedId] = runTrainingFlops }
                germinationParameters[seedId] = state.architecture.parameterCount + report.seedParameters
            }
            decisions += result.decisions.map(\.decision)
            finished += result.finished
            outcome = (result.accepted, result.reason)
            command.annotations["executed"] = result.accepted ? "true" : "false"
            if let reason = result.reason { command.annotations["refusal"] = String(reason.prefix(200)) }
            TamiyoController.append(command, to: &commands)
            service.publish(command: command)
        }
        lastValidationLoss = summary.validationLoss

        for seed in finished {
            if seed.finalStage != .fossilized { failures[seed.origin.requestedId, default: 0] += 1 }
            if seed.quarantine {
                service.quarantine(
                    seed.origin.requestedId, reason: "\(seed.cullReason ?? "isolation_breach") in run \(runId) (\(seed.seedId))")
            }
            let fieldReport = fieldReport(for: seed, epoch: summary.epoch)
            ledger.record(
                family: fieldReport.family, fossilized: seed.finalStage == .fossilized,
                gain: -Double(fieldReport.metrics["loss_delta"] ?? 0),
                ablationGain: fieldReport.metrics["ablation_loss_delta"].map(Double.init),
                parameters: seed.parameters, networkParameters: fieldReport.metrics["network_parameters_before"].map { Int($0) },
                cullReason: fieldReport.cullReason)
            service.record(fieldReport)
            if seed.finalStage == .fossilized || seed.finalStage == .cancelled { epochsSinceImprovement = 0 }
        }

        kasmina.endBoundary()
        let handshake = MonotonicClock.milliseconds(since: started)
        TamiyoController.append(handshake, to: &handshakeMs)
        automaticTriggers(inference: inference, handshake: handshake)
        service.publish(
            telemetry: telemetry(
                summary, lossDelta: lossDelta, decision: decision, verdict: verdict, outcome: outcome,
                inference: inference, handshake: handshake, conservative: conservative))
        return decisions
    }

    private static func append<T>(_ value: T, to list: inout [T]) {
        list.append(value)
        if list.count > historyLimit { list.removeFirst(list.count - historyLimit / 2) }
    }

    // MARK: - Risk signals

    /// The measured signals of the risk dimensions at this boundary (03 §9).
    func riskSignals(_ summary: EpochSummary, report: BoundaryReport, hostParameters: Int) -> RiskSignals {
        let best = bestValidationLoss
        let lossTrend = best.isFinite ? max(0, summary.validationLoss - best) : 0
        let live = report.seeds.filter { !$0.paused }
        let gradient = live.map(\.measurements.gradientNorm).max { a, b in !(a.isNaN || a < b) } ?? 0
        let blended = live.filter { [.grafting, .stabilizing, .evaluating, .fineTuning].contains($0.stage) }
        let drift = blended.map(\.measurements.drift).max() ?? 0
        let violations = kasmina.isolationViolations
        defer { lastViolations = violations }
        let allowed = max(1, report.slots.count(where: \.allowed))
        let accuracyDelta = history.count >= 2 ? history[history.count - 1].accuracy - history[history.count - 2].accuracy : 0
        let memory: Double = service.memory.utilisation()
        return RiskSignals(
            [
                .lossTrend: summary.validationLoss.isFinite ? lossTrend : .infinity,
                .gradientHealth: gradient,
                .isolation: Double(violations - lastViolations),
                // Only where the run may depend on the machine's speed (see `latencyTriggers`).
                .latency: service.settings.latencyTriggers ? (handshakeMs.last ?? 0) + (inferenceMs.last ?? 0) : 0,
                .drift: drift,
                .seedCount: Double(report.seeds.count + report.slots.reduce(0) { $0 + $1.fossils }) / Double(allowed),
                .parameterGrowth: hostParameters > 0 ? Double(report.seedParameters) / Double(hostParameters) : 0,
                .memory: memory,
            ], accuracyDelta: accuracyDelta)
    }

    // MARK: - Observation

    /// Per slot, the blueprints that can be grafted there now: the run's list (or the default
    /// pool for the slot width), with an artifact of that width, not quarantined for a breach;
    /// only SAFE ones in conservative mode. High-risk and unapproved ones stay in the list: the
    /// risk engine, not the policy, holds them (with its events).
    ///
    /// Widening blueprints fit any slot without fossils; with a `parameter_budget`, only those
    /// (and slot kernels) whose parameters keep the host plus its seeds within it remain. The
    /// second result holds what each widening candidate would add (the policy network's
    /// blueprint metadata; slot kernels are not counted before the fetch).
    public var germinationCount: Int { kasmina.germinations }
    public func resumeGerminationCount(_ count: Int) { kasmina.resumeGerminations(count) }

    func candidates(
        _ report: BoundaryReport, conservative: Bool, architecture: HostArchitecture
    ) -> ([String: [BlueprintInfo]], [String: [String: Int]]) {
        var result: [String: [BlueprintInfo]] = [:]
        var parameters: [String: [String: Int]] = [:]
        let used = architecture.parameterCount + report.seedParameters
        for slot in report.slots where slot.allowed {
            let ids = settings.blueprints ?? service.catalog.defaultPool(width: slot.width)
            result[slot.name] = ids.compactMap { service.catalog.info($0) }.filter { info in
                guard info.available, service.quarantineReason(info.blueprintId) == nil, !conservative || info.isSafe else { return false }
                // Depth seeds grow only in a conv host's conv slots, and conv slots take nothing else.
                if DepthCatalog.named(info.blueprintId) != nil || SeedSlot.convolution(named: slot.name) != nil {
                    guard
                        let added = ConvInsertSeedBlueprint.addedParameters(
                            info.blueprintId, slot: slot.name, architecture: architecture),
                        settings.parameterBudget.map({ used + added <= $0 }) ?? true
                    else { return false }
                    parameters[slot.name, default: [:]][info.blueprintId] = added
                    return true
                }
                if let units = WideningBlueprint.units(info.blueprintId) {
                    guard slot.fossils == 0, architecture.widths.count > slot.layer + 2 else { return false }
                    let added = WideningBlueprint.parameters(
                        units: units, inputs: architecture.widths[slot.layer], outputs: architecture.widths[slot.layer + 2])
                    guard settings.parameterBudget.map({ used + added <= $0 }) ?? true else { return false }
                    parameters[slot.name, default: [:]][info.blueprintId] = added
                    return true
                }
                if ConvBranchBlueprint.named(info.blueprintId) != nil {
                    guard
                        let added = ConvBranchSeedBlueprint.addedParameters(
                            info.blueprintId, layer: slot.layer, architecture: architecture),
                        settings.parameterBudget.map({ used + added <= $0 }) ?? true
                    else { return false }
                    parameters[slot.name, default: [:]][info.blueprintId] = added
                    return true
                }
                return info.seedWidth == slot.width
            }
        }
        return (result, parameters)
    }

    // MARK: - Commands

    /// A UUID-shaped id derived from (run, epoch, counter): the same run replayed issues the same ids.
    func commandId(epoch: Int) -> String {
        commandCounter += 1
        let digest = Checksum.sha256(Array("\(runId)/\(epoch)/\(commandCounter)".utf8))
        let hex = Checksum.hex(digest.prefix(16))
        let c = Array(hex)
        return String(c[0..<8]) + "-" + String(c[8..<12]) + "-8" + String(c[13..<16]) + "-" + String(c[16..<20]) + "-" + String(c[20..<32])
    }

    func command(for decision: PolicyDecision, _ o: PolicyObservation) -> AdaptationCommand? {
        var command = AdaptationCommand(
            commandId: "", commandType: .unknown, executionDeadlineMs: UInt32(TamiyoController.hookBudgetMs),
            issuedAt: LeylineTimestamp(nanosecondsSinceEpoch: o.summary.timestampNs), issuedBy: "tamiyo")
        command.annotations = [
            "policy": policy.name, "policy_version": policy.version, "policy_action": String(decision.action.rawValue),
            "policy_param_delta": String(format: "%.6f", decision.param), "rationale": String(decision.rationale.prefix(240)),
            "run_id": runId, "epoch": String(o.epoch),
        ]
        switch decision.proposal {
        case .wait:
            return nil
        case .germinate(let slot, let blueprint):
            guard let status = o.kasmina.slots.first(where: { $0.name == slot }) else { return nil }
            command.commandType = .seed
            command.targetSeedId = kasmina.seedId(forSlot: status.layer)
            command.payload = .seedOperation(
                CommandSeedOperation(
                    operation: .germinate, blueprintId: blueprint,
                    parameters: ["alpha": 0]))
            command.annotations["slot"] = slot
        case .transition(let seedId, let stage):
            guard let operation = Lifecycle.operation(into: stage) else { return nil }
            command.commandType = .seed
            command.targetSeedId = seedId
            let blueprint = o.kasmina.seeds.first { $0.seedId == seedId }?.origin.requestedId ?? ""
            command.payload = .seedOperation(CommandSeedOperation(operation: operation, blueprintId: blueprint))
        case .cull(let seedId, let reason):
            command.commandType = .seed
            command.targetSeedId = seedId
            let blueprint = o.kasmina.seeds.first { $0.seedId == seedId }?.origin.requestedId ?? ""
            command.payload = .seedOperation(CommandSeedOperation(operation: .cull, blueprintId: blueprint))
            command.annotations["reason"] = reason
        case .optimizer(let delta):
            command.commandType = .optimizer
            command.payload = .optimizerAdjustment(
                CommandOptimizerAdjustment(
                    optimizerId: config.optimizer.rawValue,
                    hyperparameters: ["lr_delta": delta]))
        case .pause(let seedId, let reason):
            command.commandType = .pause
            command.targetSeedId = seedId ?? ""
            command.annotations["risk_reason"] = reason
        }
        command.commandId = commandId(epoch: o.epoch)
        return command
    }

    // MARK: - Field reports

    /// Keeps the decision with the network's view of the boundary (the same encoding
    /// whichever policy decided), so Simic can learn from heuristic runs too.
    private func record(_ decision: PolicyDecision, _ o: PolicyObservation) {
        let config = PolicyNetworkConfig()
        let (input, candidates) = LearnedPolicy.input(o, config: config)
        var step = PolicyStep(
            epoch: UInt32(max(0, o.epoch)), action: UInt32(decision.action.rawValue),
            validActions: LearnedPolicy.validActions(o, candidates: candidates) | 1 << UInt32(decision.action.rawValue),
            features: input.features, stageIndex: UInt32(input.stageIndex), blueprintIndex: UInt32(input.blueprintIndex),
            logits: decision.logits ?? [])
        LearnedPolicy.recordChoice(decision.proposal, o, input: input, candidates: candidates, into: &step)
        trajectory.append(step)
        if trajectory.count > FieldReport.maxTrajectorySteps { trajectory.removeFirst(trajectory.count - FieldReport.maxTrajectorySteps) }
    }

    /// The measured outcome of a seed's lifecycle: validation loss and accuracy at germination
    /// vs the mean over the last epochs (at most 3) before it ended, ΔParams, the ablation.
    func fieldReport(for seed: FinishedSeed, epoch: Int) -> FieldReport {
        let window = history.filter { $0.epoch > seed.baseline.epoch }.suffix(TamiyoController.observationWindow)
        let after =
            window.isEmpty
            ? (seed.baseline.validationLoss, seed.baseline.validationAccuracy)
            : (window.map(\.loss).reduce(0, +) / Double(window.count), window.map(\.accuracy).reduce(0, +) / Double(window.count))
        let lossDelta = after.0 - seed.baseline.validationLoss
        let fossilized = seed.finalStage == .fossilized
        let outcome: FieldReportOutcome
        switch seed.cullReason {
        case nil where fossilized: outcome = .success
        case "isolation_breach"?, "kernel_timeout"?, "kernel_error"?: outcome = .regression
        case "operator"?, "emergency"?: outcome = .aborted
        default: outcome = lossDelta > settings.improvementThreshold ? .regression : .neutral
        }
        var metrics: [String: Float] = [
            "loss_delta": Float(lossDelta), "validation_loss_before": Float(seed.baseline.validationLoss),
            "validation_loss_after": Float(after.0), "validation_accuracy_before": Float(seed.baseline.validationAccuracy),
            "validation_accuracy_after": Float(after.1), "accuracy_delta": Float(after.1 - seed.baseline.validationAccuracy),
            "params_delta": Float(fossilized ? seed.parameters : 0), "seed_parameters": Float(seed.parameters),
            "isolation_violations": Float(seed.violations), "lifetime_epochs": Float(max(0, seed.epoch - seed.baseline.epoch)),
        ]
        if let ablation = seed.measurements.ablationValidationLoss { metrics["ablation_loss_delta"] = Float(ablation - after.0) }
        let family = service.catalog.info(seed.origin.requestedId)?.family ?? "slot"
        let networkBefore = germinationParameters.removeValue(forKey: seed.seedId)
        if let networkBefore { metrics["network_parameters_before"] = Float(networkBefore) }
        if fossilized {
            metrics["gain_per_kiloparameter"] = Float(FamilyRecord.gainPerKiloparameter(gain: -lossDelta, parameters: seed.parameters))
            if let worth = metrics["ablation_loss_delta"] {
                metrics["ablation_gain_per_doubling"] = Float(
                    FamilyRecord.ablationGainPerDoubling(
                        ablationGain: Double(worth), parameters: seed.parameters, networkParameters: networkBefore))
            }
        }
        if let risk = assessor.last {
            metrics["risk_level"] = Float(risk.level.rawValue)
            metrics["risk_score"] = Float(risk.score)
            for dimension in risk.dimensions { metrics["risk.\(dimension.name)"] = Float(dimension.risk) }
        }
        if let runTrainingFlops { metrics["run_training_flops"] = Float(runTrainingFlops) }
        // What the graft cost: the run's training FLOPs (host and seeds) while it lived.
        if let runTrainingFlops, let start = germinationFlops.removeValue(forKey: seed.seedId) {
            metrics["lifetime_training_flops"] = Float(max(0, runTrainingFlops - start))
        }
        metrics = metrics.filter { $0.value.isFinite }
        var followUps: [MitigationAction] = []
        if seed.quarantine {
            followUps.append(
                MitigationAction(actionType: "QUARANTINE_BLUEPRINT", rationale: "isolation breach: \(seed.origin.requestedId)"))
        }
        if !fossilized { followUps.append(MitigationAction(actionType: "EMBARGO_SLOT", rationale: "\(seed.slot) after the cull")) }
        let cullReason = fossilized ? "" : seed.cullReason ?? "policy"
        var notes = fossilized ? "fossilized" : "culled (\(cullReason)) in \(seed.stageBeforeEnd.name)"
        notes += "; kernel \(seed.origin.kernelId) (\(seed.origin.source)); family \(family)"
        let steps = trajectory
        trajectory = []
        return FieldReport(
            reportId: "fr-\(runId)-\(seed.seedId)", commandId: seed.baseline.commandId, trainingRunId: runId, seedId: seed.seedId,
            blueprintId: seed.origin.requestedId, outcome: outcome, metrics: metrics, observationWindowEpochs: UInt32(window.count),
            issuedAt: .now(), tamiyoPolicyVersion: policy.version, followUpActions: followUps, notes: notes, trajectory: steps,
            family: family, cullReason: cullReason)
    }

    // MARK: - Telemetry and automatic conservative mode

    private func automaticTriggers(inference: Double, handshake: Double) {
        guard service.settings.latencyTriggers else { return }
        if inference > TamiyoController.inferenceBudgetMs {
            service.mode.trigger(
                "inference latency \(String(format: "%.1f", inference)) ms over the \(TamiyoController.inferenceBudgetMs) ms budget")
        }
        slowBoundaries = handshake > TamiyoController.hookBudgetMs ? slowBoundaries + 1 : 0
        if slowBoundaries >= 3 {
            service.mode.trigger("epoch hook over \(TamiyoController.hookBudgetMs) ms for 3 consecutive epochs")
        }
    }

    func telemetry(
        _ summary: EpochSummary, lossDelta: Double, decision: PolicyDecision, verdict: RiskEngine.Verdict,
        outcome: (accepted: Bool, reason: String?)?, inference: Double, handshake: Double, conservative: Bool
    ) -> TelemetryPacket {
        let run = ["run_id": runId]
        var metrics = [
            MetricPoint(name: "tamiyo.validation_loss", value: summary.validationLoss, unit: "loss", attributes: run),
            MetricPoint(name: "tamiyo.loss_delta", value: lossDelta, unit: "loss", attributes: run),
            MetricPoint(name: "tamiyo.conservative_mode", value: conservative ? 1 : 0, unit: "bool", attributes: run),
            MetricPoint(name: "tamiyo.inference.latency_ms", value: inference, unit: "ms", attributes: run),
            MetricPoint(name: "tamiyo.handshake.latency_ms", value: handshake, unit: "ms", attributes: run),
        ]
        if let info = verdict.blueprint {
            metrics.append(MetricPoint(name: "tamiyo.blueprint.risk", value: info.risk, unit: "score", attributes: run))
        }
        if let risk = assessor.last {
            metrics.append(MetricPoint(name: "tamiyo.risk.level", value: Double(risk.level.rawValue), unit: "level", attributes: run))
            metrics.append(MetricPoint(name: "tamiyo.risk.score", value: risk.score, unit: "score", attributes: run))
            // One metric per dimension (a dimension attribute would not be a Prometheus label).
            for dimension in risk.dimensions {
                metrics.append(MetricPoint(name: "tamiyo.risk.\(dimension.name)", value: dimension.risk, unit: "score", attributes: run))
            }
            if let memory = risk.dimensions.first(where: { $0.name == RiskDimension.memory.rawValue }) {
                metrics.append(MetricPoint(name: "tamiyo.memory_utilisation", value: memory.value, unit: "ratio", attributes: run))
            }
        }
        metrics = metrics.filter { $0.value.isFinite }
        var events = verdict.events.map { event -> TelemetryEvent in
            var event = event
            event.attributes["run_id"] = runId
            return event
        }
        if let command = verdict.command {
            events.append(
                TelemetryEvent(
                    description: "command_issued", level: .info,
                    attributes: [
                        "run_id": runId, "command_type": command.commandType.name, "target_seed_id": command.targetSeedId,
                        "executed": outcome?.accepted == true ? "true" : "false", "policy_action": decision.action.name,
                    ]))
        }
        let pause = verdict.command?.commandType == .pause
        let status: HealthStatus =
            events.contains { $0.level == .critical }
            ? .critical
            : (pause || events.contains { $0.level == .warning }) ? .degraded : .healthy
        let summaryText: String
        if pause {
            let reason = verdict.command?.annotations["risk_reason"] ?? "pause"
            summaryText = reason == "blueprint_high_risk" ? "bp_high_risk" : reason
        } else if let last = events.last {
            summaryText = last.description
        } else {
            summaryText = lossDelta > service.risk.maxLossSpike ? "loss_spike" : "stable"
        }
        return TelemetryPacket.build(
            packetId: "tamiyo-telemetry-\(runId)-\(summary.epoch)", source: "tamiyo", level: status == .healthy ? .info : .warning,
            metrics: metrics, events: events, healthStatus: status, healthSummary: summaryText,
            healthIndicators: [
                "policy": String(policy.version.prefix(8)), "mode": conservative ? "1" : "0", "run_id": runId,
                "tier": verdict.blueprint?.tier.name ?? "",
            ].filter { !$0.value.isEmpty })
    }
}
