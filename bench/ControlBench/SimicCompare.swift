// control-bench simic-compare: closes the loop of issue 8 on the digits growth task. Heuristic
// runs on the training seeds write field reports (with the decisions that led to them); Simic
// trains Tamiyo's network on them with PPO and validates it; then the heuristic and the
// trained policy each run the growth task on the evaluation seeds. Prints one line per run
// and a summary table (final accuracy, parameters added, culls).
//
// The task is width growth (`widthGrowthConfig`: a 4-unit host widened by widen-8/widen-4
// seeds within `parameter_budget` 2 409) under recipe R — the DIGITS_* variables default to
// DIGITS_LR=0.003 DIGITS_LABEL_SMOOTHING=0.1 DIGITS_INPUT_NOISE=0.1 DIGITS_DECAY_EPOCHS=50
// here, as in docs/performance.md "Growth on digits". SIMIC_TASK=slot-seeds runs the earlier
// slot-seed task instead (`growthConfig`, reference recipe).
//
// Environment: SIMIC_TRAIN_SEEDS (default 101,102,103,104,105,106), SIMIC_EVAL_SEEDS
// (default 1,2,3), SIMIC_UPDATES (default 20), SIMIC_LR (default 1e-3), SIMIC_SEED (1),
// SIMIC_BC_EPOCHS (cloning passes of the second variant, default the service's `cloning_epochs`, 100), SIMIC_EVALUATE_REJECTED=1
// (also run policies that failed validation, labelled "(rejected)", for information),
// SIMIC_VERBOSE=1 (every run's commands on stderr); the
// GROWTH_* and DIGITS_* variables of `growth` apply to every run.
import EsperStorage
import Foundation
import Leyline
import Simic
import Tamiyo
import TamiyoNetwork
import Tolaria

struct GrowthRow {
    var policy: String
    var seed: UInt64
    var finalAccuracy: Double
    var parametersAdded: Int
    var germinations: Int
    var fossils: Int
    var culls: Int
    /// Parameters of the network at the end (host, fossils and live seeds).
    var parameters: Int
    /// Training stopped on an exploding loss (the other figures are then 0).
    var diverged: Bool
}

/// Which growth task the comparison runs.
enum SimicTask {
    /// Width growth with widening seeds (the default).
    case width
    /// The earlier task: width-preserving slot seeds after a 4-unit layer.
    case slotSeeds

    static var current: SimicTask {
        switch ProcessInfo.processInfo.environment["SIMIC_TASK"] {
        case nil, "", "width": return .width
        case "slot-seeds": return .slotSeeds
        case let other?:
            FileHandle.standardError.write(Data("SIMIC_TASK must be width or slot-seeds, not \(other)\n".utf8))
            exit(2)
        }
    }

    func config(seed: UInt64, epochs: Int, policy: ControlPolicy) -> RunConfig {
        switch self {
        case .width: widthGrowthConfig(seed: seed, epochs: epochs, policy: policy)
        case .slotSeeds: growthConfig(seed: seed, epochs: epochs, policy: policy)
        }
    }
}

/// The 4-unit digits host: 64·4 + 4 + 4·10 + 10.
let initialHostParameters = 310

func seeds(_ name: String, _ fallback: String) -> [UInt64] {
    (ProcessInfo.processInfo.environment[name] ?? fallback).split(separator: ",").compactMap { UInt64($0) }
}

func growthRun(_ control: Control, seed: UInt64, epochs: Int, policy: ControlPolicy, label: String) throws -> GrowthRow {
    let runId = "\(label)-\(seed)"
    // Every run starts in normal mode: an automatic switch (a slow boundary on a loaded
    // machine) is sticky across the service's runs and would change the next run's decisions.
    _ = control.service.mode.set(false, reason: "simic-compare: next run")
    let summaries: [EpochSummary], controller: TamiyoController
    do {
        (summaries, controller) = try control.train(SimicTask.current.config(seed: seed, epochs: epochs, policy: policy), runId: runId)
    } catch {
        // A policy can wreck training (learning-rate changes until the loss explodes and
        // Tolaria stops the run): a failed run, counted as accuracy 0 in the means.
        print("run policy=\(label) seed=\(seed) DIVERGED: \(error)")
        return GrowthRow(
            policy: label, seed: seed, finalAccuracy: 0, parametersAdded: 0, germinations: 0, fossils: 0, culls: 0,
            parameters: 0, diverged: true)
    }
    control.service.flush()
    let reports = control.service.fieldReports.all.filter { $0.trainingRunId == runId }
    let conservative = control.service.mode.isConservative ? " CONSERVATIVE(\(control.service.mode.current.reason))" : ""
    let last = summaries.last!
    // Fossilised widenings are host units now (the host grew); slot seeds, fossilised or live,
    // and a widening seed still live at the end are counted from the slots.
    let seedParameters = last.slots.reduce(0) { $0 + $1.parameters }
    let hostGrowth = (control.lastHost?.parameterCount ?? initialHostParameters) - initialHostParameters
    let row = GrowthRow(
        policy: label, seed: seed, finalAccuracy: last.validationAccuracy, parametersAdded: hostGrowth + seedParameters,
        germinations: controller.kasmina.germinations, fossils: reports.filter { $0.outcome == .success }.count,
        culls: reports.filter { $0.outcome != .success }.count, parameters: initialHostParameters + hostGrowth + seedParameters,
        diverged: false)
    var actions: [String: Int] = [:]
    for command in controller.commands {
        let action = Int(command.annotations["policy_action"] ?? "").flatMap(PolicyAction.init(rawValue:))?.name ?? "?"
        actions[action, default: 0] += 1
    }
    if ProcessInfo.processInfo.environment["SIMIC_VERBOSE"] == "1" {
        for command in controller.commands {
            var operation = command.commandType.name
            if case .seedOperation(let op)? = command.payload { operation = op.operation.name + " " + op.blueprintId }
            FileHandle.standardError.write(
                Data("\(runId) epoch \(command.annotations["epoch"] ?? "?") \(operation) \(command.annotations["rationale"] ?? "")\n".utf8))
        }
    }
    let commandText = actions.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: ",")
    print(
        String(
            format: "run policy=\(label) commands=\(commandText.isEmpty ? "none" : commandText) seed=%llu final_val_acc=%.4f params=%d params_added=%d hidden=%@ germinations=%d fossils=%d culls=%d decisions=%d",
            seed, row.finalAccuracy, row.parameters, row.parametersAdded,
            (control.lastHost?.hiddenSizes ?? []).map(String.init).joined(separator: ","), row.germinations, row.fossils, row.culls,
            reports.reduce(0) { $0 + $1.trajectory.count }) + conservative)
    return row
}

func simicCompare(epochs: Int) throws {
    let env = ProcessInfo.processInfo.environment
    let trainSeeds = seeds("SIMIC_TRAIN_SEEDS", "101,102,103,104,105,106")
    let evalSeeds = seeds("SIMIC_EVAL_SEEDS", "1,2,3")
    // A generous kernel-fetch budget: on a loaded machine the default 10 ms would make a fetch
    // fall back to BP001 at random and the runs would not be reproducible.
    let task = SimicTask.current
    if task == .width {
        // Recipe R unless the caller set the variables (setenv's overwrite 0 keeps theirs).
        for (name, value) in [
            ("DIGITS_LR", "0.003"), ("DIGITS_LABEL_SMOOTHING", "0.1"), ("DIGITS_INPUT_NOISE", "0.1"), ("DIGITS_DECAY_EPOCHS", "50"),
        ] {
            setenv(name, value, 0)
        }
    }
    // Widening seeds need no compiled kernels; the slot-seed task compiles the catalog.
    let control = try Control(width: 4, blueprints: task == .width ? [] : growthCandidates, kernelBudgetMs: 1000)
    print("task=\(task == .width ? "width-growth" : "slot-seeds") epochs=\(epochs)")

    // 1. Heuristic runs produce field reports.
    for seed in trainSeeds { _ = try growthRun(control, seed: seed, epochs: epochs, policy: .heuristic, label: "train-heuristic") }
    let reports = control.service.fieldReports.all

    // 2. Simic trains on them (starting from Tamiyo's current weights), validates, publishes:
    //    plain PPO, and PPO after behaviour cloning of the logged actions.
    let buffer = FieldReportReplayBuffer(capacity: 100_000, ttlHours: 24 * 365)
    buffer.extend(reports, now: Date().timeIntervalSince1970)
    let store = try SimicStore(path: control.root + "/simic.db")
    let publisher = try PolicyPublisher(directory: control.root + "/policies", store: store, announce: { _ in })
    let initial = control.service.currentWeights
    var variants: [(label: String, version: String)] = []
    for (label, cloning) in [("simic-ppo", 0), ("simic-bc+ppo", Int(env["SIMIC_BC_EPOCHS"] ?? "") ?? SimicTrainingSettings().cloningEpochs)] {
        var settings = SimicTrainingSettings()
        settings.updates = Int(env["SIMIC_UPDATES"] ?? "") ?? 20
        settings.learningRate = Double(env["SIMIC_LR"] ?? "") ?? 1e-3
        settings.seed = UInt64(env["SIMIC_SEED"] ?? "") ?? 1
        settings.cloningEpochs = cloning
        // The data's mean reward is a property of the heuristic runs, not of the candidate.
        settings.validation.minAverageReward = -Double.greatestFiniteMagnitude
        let job = SimicJob(id: label, state: .running, settings: settings, createdAt: LeylineTimestamp.now().rfc3339)
        let started = Date()
        let result = try SimicJobRunner.run(job, buffer: buffer, initial: initial, publisher: publisher, telemetry: { _ in })
        let wallMs = Date().timeIntervalSince(started) * 1000
        let minibatches = result.updates.reduce(0) { $0 + $1.minibatches }
        let first = result.updates.first, last = result.updates.last
        let validation = result.validation.passed ? "pass" : "FAIL (\(result.validation.reasons.joined(separator: "; ")))"
        let support = String(
            format: "out_of_support=%.2f rare_actions=%.2f ", result.validation.metrics.outOfSupport, result.validation.metrics.rareActions)
        print(
            "\(label): reports=\(result.trainingReports) holdout=\(result.holdoutReports) steps=\(result.trainingSteps) "
                + "updates=\(result.updates.count) cloning_nll=\(first?.cloningLoss.map { String(format: "%.4f", $0) } ?? "-") "
                + String(
                    format: "policy_loss=%.4f->%.4f value_loss=%.4f->%.4f entropy=%.4f->%.4f holdout_policy_loss=%.4f ",
                    first?.policyLoss ?? 0, last?.policyLoss ?? 0, first?.valueLoss ?? 0, last?.valueLoss ?? 0, first?.entropy ?? 0,
                    last?.entropy ?? 0, result.validation.metrics.policyLoss)
                + String(format: "job_ms=%.0f minibatches=%d ", wallMs, minibatches)
                + support + "validation=\(validation) version=\(result.policyVersion ?? "-") sha256=\(result.weightsSha256.prefix(12))")
        if let version = result.policyVersion {
            variants.append((label, version))
        } else if env["SIMIC_EVALUATE_REJECTED"] == "1" {
            // For information only: the same job (same weights) with validation off, so the
            // table can show what the rejected policy would have done.
            var open = settings
            open.validation = ValidationThresholds()
            open.validation.minAverageReward = -Double.greatestFiniteMagnitude
            open.validation.maxOutOfSupport = 1
            open.validation.maxRareActions = 1
            open.validation.maxPolicyLoss = .greatestFiniteMagnitude
            let rerun = SimicJob(id: label + "-rejected", state: .running, settings: open, createdAt: LeylineTimestamp.now().rfc3339)
            let forced = try SimicJobRunner.run(rerun, buffer: buffer, initial: initial, publisher: publisher, telemetry: { _ in })
            if let version = forced.policyVersion { variants.append((label + " (rejected)", version)) }
        }
    }

    // 3. The same task on the evaluation seeds: the heuristic, then each published policy.
    var rows: [GrowthRow] = []
    for seed in evalSeeds { rows.append(try growthRun(control, seed: seed, epochs: epochs, policy: .heuristic, label: "heuristic")) }
    for variant in variants {
        try control.service.install(weights: try publisher.load(variant.version))
        for seed in evalSeeds { rows.append(try growthRun(control, seed: seed, epochs: epochs, policy: .learned, label: variant.label)) }
    }
    print("\n| policy | seed | final val acc | params | params added | germinations | fossils | culls |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows {
        print(
            String(
                format: "| \(row.policy) | %llu | %@ | %d | %d | %d | %d | %d |", row.seed,
                row.diverged ? "diverged" : String(format: "%.4f", row.finalAccuracy), row.parameters,
                row.parametersAdded, row.germinations, row.fossils, row.culls))
    }
    for label in ["heuristic"] + variants.map(\.label) {
        let mine = rows.filter { $0.policy == label }
        let n = Double(max(1, mine.count))
        print(
            String(
                format: "| \(label)\(mine.contains(where: \.diverged) ? " (\(mine.filter(\.diverged).count) diverged, as 0)" : "") | mean | %.4f | %.1f | %.1f | %.1f | %.1f | %.1f |", mine.reduce(0) { $0 + $1.finalAccuracy } / n,
                Double(mine.reduce(0) { $0 + $1.parameters }) / n, Double(mine.reduce(0) { $0 + $1.parametersAdded }) / n,
                Double(mine.reduce(0) { $0 + $1.germinations }) / n, Double(mine.reduce(0) { $0 + $1.fossils }) / n,
                Double(mine.reduce(0) { $0 + $1.culls }) / n))
    }
}
