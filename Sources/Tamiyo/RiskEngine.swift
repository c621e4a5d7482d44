import Foundation
public import Leyline
public import Tolaria

/// The risk engine of 03-tamiyo §4–6, between the policy and Kasmina. It may rewrite a
/// command to `COMMAND_PAUSE` (payload cleared, original type kept in `original_command`):
///
/// - blueprint quarantine: a germination of a quarantine-only template, of risk ≥ 0.8, or of a
///   blueprint Tamiyo quarantined after an isolation breach ⇒ PAUSE, `risk_reason =
///   blueprint_high_risk`, event `bp_quarantine` (a run may graft quarantine-only templates
///   only with `allow_high_risk` and an approval — never one quarantined for a breach);
/// - approval: an approval-required template not approved for the run (nor by an operator)
///   is held (PAUSE, `approval_required`);
/// - conservative mode: a germination outside the safe pool, or a learning-rate change ⇒
///   PAUSE, `conservative_mode`;
/// - loss spike: validation loss up by more than `max_loss_spike` since the last epoch ⇒
///   PAUSE of every live seed, `loss_spike` — whatever the policy proposed, except a cull or an
///   emergency, which already reduce risk. Events `pause_triggered` for both pause rules;
/// - learning-rate bound (not in the spec; a published Simic policy raised the host rate at
///   almost every boundary until the run was ruined): a `COMMAND_OPTIMIZER` within
///   `learning_rate_cooldown_epochs` of the last executed change is refused (`lr_cooldown`),
///   one that would take the host rate outside [configured ÷ r, configured × r]
///   (`max_learning_rate_ratio` r) is cut to the bound, or refused when the rate is already
///   there (`lr_bound`). Events `lr_refused` / `lr_bounded`. A refused command is published
///   with `executed = false` but not executed.
///
/// With a `RiskReport` (the run's `RiskAssessor`, 03 §9) it also applies the level's effect
/// (see `RiskLevel`), the memory pre-check (utilisation > 0.85 ⇒ a germination is paused,
/// `memory_pressure`) and the G2 drift gate: a seed may leave GRAFTING (STABILIZE) only while
/// its drift is below `highDriftThreshold` (0.12, 02 §6 design). Every command the engine
/// changes carries `risk_reason`, `risk_level` and `risk_dimension` — the dimension behind it.
public struct RiskEngine: Sendable {
    public var maxLossSpike: Double
    public var highRiskThreshold = 0.8
    /// G2: drift = 1 − mean cos(h, y) during the ramp must stay below this to stabilise.
    public var highDriftThreshold = 0.12
    /// 03 §9 pre-check: memory utilisation above this blocks germinations.
    public static let memoryBlockUtilisation = 0.85

    public init(maxLossSpike: Double = 0.15) { self.maxLossSpike = maxLossSpike }

    public struct Verdict: Sendable {
        public var command: AdaptationCommand?
        public var events: [TelemetryEvent] = []
        public var blueprint: BlueprintInfo?
        public var riskReason: String?
        /// The command is not executed (a learning-rate change refused by its bound or cooldown).
        public var refused = false
    }

    /// The host learning rate the optimizer rules judge a `COMMAND_OPTIMIZER` against.
    public struct LearningRateState: Sendable {
        /// The host rate now, and the one the run was configured with.
        public var current: Float
        public var configured: Float
        /// Epochs since the last executed change (nil: none yet).
        public var epochsSinceChange: Int?
        public init(current: Float, configured: Float, epochsSinceChange: Int?) {
            self.current = current
            self.configured = configured
            self.epochsSinceChange = epochsSinceChange
        }
    }

    public func review(
        _ proposed: AdaptationCommand?, lossDelta: Double, hasPreviousLoss: Bool, conservative: Bool,
        settings: SeedSettings, blueprint lookup: (String) -> BlueprintInfo?, quarantined: (String) -> String?,
        approved operatorApproved: (String) -> Bool = { _ in false }, learningRate: LearningRateState? = nil,
        assessment: RiskReport? = nil, seedDrift: (String) -> Double? = { _ in nil }
    )
        -> Verdict
    {
        var verdict = Verdict(command: proposed)
        let spike = hasPreviousLoss && lossDelta > maxLossSpike
        if var command = proposed, case .seedOperation(let operation)? = command.payload, operation.operation == .germinate {
            let id = operation.blueprintId
            if let info = lookup(id) {
                verdict.blueprint = info
                command.annotations["blueprint_tier"] = info.tier.name
                command.annotations["blueprint_stage"] = String(info.stage)
                command.annotations["blueprint_risk"] = String(format: "%.2f", info.risk)
                verdict.command = command
                // Approved for this run, or by an operator for every run (POST /api/v1/tamiyo/approvals).
                let approved = settings.approvedBlueprints.contains(id) || operatorApproved(id)
                if let reason = quarantined(id) {
                    rewrite(
                        &verdict, reason: "blueprint_high_risk", event: "bp_quarantine",
                        attributes: ["tier": info.tier.name, "blueprint_id": id, "quarantine": reason])
                } else if (info.quarantineOnly || info.risk >= highRiskThreshold) && !(settings.allowHighRisk && approved) {
                    rewrite(
                        &verdict, reason: "blueprint_high_risk", event: "bp_quarantine",
                        attributes: ["tier": info.tier.name, "blueprint_id": id, "risk": String(format: "%.2f", info.risk)])
                } else if info.approvalRequired && !approved {
                    rewrite(
                        &verdict, reason: "approval_required", event: "approval_held",
                        attributes: ["tier": info.tier.name, "blueprint_id": id])
                } else if conservative && !info.isSafe {
                    rewrite(
                        &verdict, reason: "conservative_mode", event: "pause_triggered",
                        attributes: ["conservative": "true", "loss_delta": String(format: "%.3f", lossDelta), "blueprint_id": id])
                }
            } else {
                rewrite(&verdict, reason: "blueprint_unknown", event: "bp_quarantine", attributes: ["blueprint_id": id, "tier": "unknown"])
            }
        }
        if conservative, let command = verdict.command, command.commandType == .optimizer {
            rewrite(
                &verdict, reason: "conservative_mode", event: "pause_triggered",
                attributes: ["conservative": "true", "loss_delta": String(format: "%.3f", lossDelta)])
        }
        if let state = learningRate {
            bound(&verdict, state, settings: settings)
        }
        if let assessment { applyLevel(&verdict, assessment, lookup: lookup, seedDrift: seedDrift) }
        if spike {
            let exempt =
                verdict.command.map { command -> Bool in
                    if command.commandType == .emergency { return true }
                    if case .seedOperation(let op)? = command.payload { return op.operation == .cull || op.operation == .cancel }
                    return false
                } ?? false
            if !exempt {
                if verdict.command == nil { verdict.command = AdaptationCommand(commandType: .pause) }
                rewrite(
                    &verdict, reason: "loss_spike", event: "pause_triggered", targetAll: true,
                    attributes: ["conservative": conservative ? "true" : "false", "loss_delta": String(format: "%.3f", lossDelta)])
            }
        }
        // Every command the engine changed says at which level and for which dimension.
        if let assessment, var command = verdict.command, let reason = command.annotations["risk_reason"] {
            command.annotations["risk_level"] = assessment.level.name
            if command.annotations["risk_dimension"] == nil {
                command.annotations["risk_dimension"] = dimension(for: reason, assessment)
            }
            verdict.command = command
        }
        return verdict
    }

    /// Which dimension a rule of the engine answers to (for commands it changed).
    private func dimension(for reason: String, _ assessment: RiskReport) -> String {
        switch reason {
        case "loss_spike": RiskDimension.lossTrend.rawValue
        case "g2_drift": RiskDimension.drift.rawValue
        case "memory_pressure": RiskDimension.memory.rawValue
        case "lr_bound", "lr_cooldown": RiskDimension.lossTrend.rawValue
        case "blueprint_high_risk", "approval_required", "blueprint_unknown": "blueprint"
        case "conservative_mode": "conservative_mode"
        default: assessment.leadingDimension ?? "score"
        }
    }

    /// The level's effect (`RiskLevel`) and the G2 drift gate.
    private func applyLevel(
        _ verdict: inout Verdict, _ assessment: RiskReport, lookup: (String) -> BlueprintInfo?, seedDrift: (String) -> Double?
    ) {
        let level = assessment.level
        let leading = assessment.leadingDimension ?? "score"
        var attributes = [
            "risk_level": level.name, "risk_score": String(format: "%.3f", assessment.score), "risk_dimension": leading,
        ]
        if level >= .red {
            let reducing =
                verdict.command.map { command -> Bool in
                    if command.commandType == .emergency { return true }
                    if case .seedOperation(let op)? = command.payload { return op.operation == .cull || op.operation == .cancel }
                    return false
                } ?? false
            if !reducing && (verdict.command?.commandType != .pause || verdict.command?.targetSeedId != "") {
                if verdict.command == nil { verdict.command = AdaptationCommand(commandType: .pause) }
                rewrite(&verdict, reason: "risk_level", event: "pause_triggered", targetAll: true, attributes: attributes)
            }
            return
        }
        guard let command = verdict.command, command.annotations["risk_reason"] == nil else { return }
        let operation: SeedOperation? = {
            if case .seedOperation(let op)? = command.payload { return op.operation }
            return nil
        }()
        // The spec's memory pre-check: above 0.85 of the memory the process may use, nothing
        // that allocates more (a germination) goes through, whatever the level.
        if operation == .germinate, let memory = assessment.dimensions.first(where: { $0.name == RiskDimension.memory.rawValue }),
            memory.value > RiskEngine.memoryBlockUtilisation
        {
            attributes["risk_dimension"] = RiskDimension.memory.rawValue
            attributes["memory_utilisation"] = String(format: "%.3f", memory.value)
            rewrite(&verdict, reason: "memory_pressure", event: "pause_triggered", attributes: attributes)
            return
        }
        // G2: leaving the ramp with a seed that moves the host's activations too far.
        if operation == .stabilize, let drift = seedDrift(command.targetSeedId), drift >= highDriftThreshold {
            attributes["risk_dimension"] = RiskDimension.drift.rawValue
            attributes["drift"] = String(format: "%.4f", drift)
            attributes["seed_id"] = command.targetSeedId
            rewrite(&verdict, reason: "g2_drift", event: "g2_refused", attributes: attributes)
            return
        }
        switch level {
        case .yellow:
            if operation == .germinate, case .seedOperation(let op)? = command.payload, lookup(op.blueprintId)?.isSafe != true {
                attributes["blueprint_id"] = op.blueprintId
                rewrite(&verdict, reason: "risk_level", event: "pause_triggered", attributes: attributes)
            }
        case .orange:
            let advancing: Set<SeedOperation> = [.germinate, .startGrafting, .stabilize, .evaluate, .fossilize]
            if command.commandType == .optimizer || operation.map(advancing.contains) == true {
                rewrite(&verdict, reason: "risk_level", event: "pause_triggered", attributes: attributes)
            }
        default:
            return
        }
    }

    /// The learning-rate rules (cooldown, then bound) on an optimizer command. The factor is
    /// Kasmina's: host rate × (1 + lr_delta clamped to [−0.9, 1]).
    private func bound(_ verdict: inout Verdict, _ state: LearningRateState, settings: SeedSettings) {
        guard var command = verdict.command, command.commandType == .optimizer,
            case .optimizerAdjustment(var adjustment)? = command.payload, let requested = adjustment.hyperparameters["lr_delta"],
            requested.isFinite
        else { return }
        let delta = Double(requested)
        let cooldown = settings.effectiveLearningRateCooldownEpochs
        var attributes = [
            "lr_delta": String(format: "%.4f", delta), "learning_rate": String(format: "%.6g", state.current),
            "configured_learning_rate": String(format: "%.6g", state.configured),
        ]
        if cooldown > 0, let since = state.epochsSinceChange, since < cooldown {
            attributes["epochs_since_change"] = String(since)
            attributes["cooldown_epochs"] = String(cooldown)
            refuse(&verdict, reason: "lr_cooldown", attributes: attributes)
            return
        }
        let ratio = Double(settings.effectiveMaxLearningRateRatio)
        let current = Double(state.current), configured = Double(state.configured)
        guard current > 0, configured > 0 else { return }
        let low = configured / ratio, high = configured * ratio
        let proposed = current * (1 + min(max(delta, -0.9), 1))
        guard proposed > high * (1 + 1e-6) || proposed < low * (1 - 1e-6) else { return }
        let target = min(max(proposed, low), high)
        attributes["bound"] = String(format: "%.6g", proposed > high ? high : low)
        // Already at (or past) the bound on that side: nothing left to change.
        if (proposed > high && current >= high * (1 - 1e-6)) || (proposed < low && current <= low * (1 + 1e-6)) {
            refuse(&verdict, reason: "lr_bound", attributes: attributes)
            return
        }
        let allowed = target / current - 1
        adjustment.hyperparameters["lr_delta"] = Float(allowed)
        command.payload = .optimizerAdjustment(adjustment)
        command.annotations["risk_reason"] = "lr_bound"
        command.annotations["original_lr_delta"] = String(format: "%.6f", delta)
        verdict.command = command
        verdict.riskReason = "lr_bound"
        attributes["allowed_lr_delta"] = String(format: "%.4f", allowed)
        verdict.events.append(
            TelemetryEvent(
                description: "lr_bounded", level: .warning, attributes: attributes.merging(["risk_reason": "lr_bound"]) { a, _ in a }))
    }

    private func refuse(_ verdict: inout Verdict, reason: String, attributes: [String: String]) {
        guard var command = verdict.command else { return }
        command.annotations["risk_reason"] = reason
        verdict.command = command
        verdict.riskReason = reason
        verdict.refused = true
        verdict.events.append(
            TelemetryEvent(
                description: "lr_refused", level: .warning, attributes: attributes.merging(["risk_reason": reason]) { a, _ in a }))
    }

    private func rewrite(_ verdict: inout Verdict, reason: String, event: String, targetAll: Bool = false, attributes: [String: String]) {
        guard var command = verdict.command else { return }
        verdict.refused = false
        if command.commandType != .pause {
            var original = command.commandType.name
            if case .seedOperation(let op)? = command.payload { original += "/" + op.operation.name }
            command.annotations["original_command"] = original
        }
        command.commandType = .pause
        command.payload = nil
        if targetAll { command.targetSeedId = "" }
        command.annotations["risk_reason"] = reason
        verdict.command = command
        verdict.riskReason = reason
        verdict.events.append(
            TelemetryEvent(description: event, level: .warning, attributes: attributes.merging(["risk_reason": reason]) { a, _ in a }))
    }
}
