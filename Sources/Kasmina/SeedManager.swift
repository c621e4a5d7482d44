import Foundation
public import KernelRuntime
public import Kernels
public import Leyline
public import Tolaria

import enum Karn.DepthCatalog
import struct Karn.HostShape

/// A seed whose lifecycle ended at this boundary (fossilised or cancelled), with what its
/// field report needs.
public struct FinishedSeed: Sendable, Equatable {
    public var seedId: String
    public var slot: String
    public var origin: KernelOrigin
    public var baseline: SeedBaseline
    public var finalStage: SeedLifecycleStage
    /// The stage it was in when it failed (CULLING/CANCELLED paths), or FOSSILIZED.
    public var stageBeforeEnd: SeedLifecycleStage
    public var parameters: Int
    public var cullReason: String?
    /// Its blueprint must be quarantined (isolation breaker).
    public var quarantine: Bool
    public var violations: Int
    public var measurements: Seed.EpochMeasurements
    public var epoch: Int
}

/// A live seed as the policy sees it at a boundary.
public struct SeedSnapshot: Sendable, Equatable {
    public var seedId: String
    public var slot: String
    public var layer: Int
    public var origin: KernelOrigin
    public var baseline: SeedBaseline
    public var stage: SeedLifecycleStage
    public var epochsInStage: Int
    public var alpha: Float
    public var graftStep: Int
    public var rampComplete: Bool
    public var parameters: Int
    public var violations: Int
    public var paused: Bool
    public var measurements: Seed.EpochMeasurements
}

/// A slot as the policy sees it.
public struct SlotStatus: Sendable, Equatable {
    public var name: String
    public var layer: Int
    public var width: Int
    /// Seeds may be grafted here (named in the run's settings, or any slot by default).
    public var allowed: Bool
    public var embargoUntilEpoch: Int
    public var liveSeed: String?
    public var fossils: Int
    public var fossilParameters: Int

    public func isOpen(at epoch: Int) -> Bool { allowed && liveSeed == nil && epoch >= embargoUntilEpoch }
}

/// What the boundary's first half found.
public struct BoundaryReport: Sendable {
    public var epoch: Int
    public var seeds: [SeedSnapshot]
    public var slots: [SlotStatus]
    public var finished: [FinishedSeed]
    /// Seed parameters now part of the model (fossils and live seeds).
    public var seedParameters: Int
    public var germinations: Int
}

/// What executing one command produced.
public struct CommandResult: Sendable {
    public var accepted: Bool
    public var reason: String?
    /// The seed the command created or changed.
    public var seedId: String?
    public var finished: [FinishedSeed] = []
    /// Tolaria decisions (install a slot module, learning rates, freezing).
    public var decisions: [EpochDecisionBox] = []
}

/// `EpochDecision` carries a class reference (the module), so it is not `Sendable`; the
/// manager and its caller live on the same training thread.
public struct EpochDecisionBox: @unchecked Sendable {
    public let decision: EpochDecision
}

/// Kasmina for one run (02-kasmina): executes Tamiyo's commands at the epoch boundary —
/// germinate (fetch from Urza within the budget, fall back, bind a parameter block and
/// optimizer group, check storage isolation, graft), lifecycle operations validated by the
/// table, cull (host function restored exactly, slot embargoed), PAUSE (seeds held at the
/// host function for the next epoch), EMERGENCY (cull everything live) — and reports
/// telemetry. Owned by the run's training thread; publishes a read-only view to the
/// `SeedRegistry` for the REST API.
public final class SeedManager: SeedModuleFactory {
    public let runId: String
    public let settings: SeedSettings
    public let budgetMs: Double
    let kernels: any SeedKernelProvider
    let registry: SeedRegistry?
    /// Publishes a telemetry packet (the caller's async bus publisher; never blocks).
    let publish: (TelemetryPacket) -> Void
    /// Test hook: builds the branch of a seed (default: the kernel bound into its block).
    let makeBranch: (CompiledKernel, ParameterBlock) throws -> any SeedBranch
    /// Overrides `KernelBranch.defaultCallBudgetNanoseconds` for new seeds (tests).
    var kernelCallBudgetNanoseconds: UInt64?
    /// Test hook: builds a widening seed's branch (default: `WideningBranch`, initialised from
    /// the seed id).
    let makeWideningBranch: (WideningShape, ParameterBlock, String) throws -> any SeedBranch
    /// Test hook: builds a conv-branch seed's branch (default: `ConvBranchSeed`, initialised
    /// from the seed id).
    let makeConvBranch: (ConvBranchShape, ParameterBlock, String) throws -> any SeedBranch
    /// Test hook: builds a depth seed's branch (default: `ConvInsertSeed`, zero at the start).
    let makeConvInsert: (ConvInsertShape, ParameterBlock, String) throws -> any SeedBranch
    public let guardian = IsolationGuard()
    /// The host's shape at the last boundary (widening seeds are shaped by it).
    public private(set) var architecture: HostArchitecture?

    /// Slot widths of the host (`slot-<i>` → width).
    public private(set) var slotWidths: [(name: String, layer: Int, width: Int)] = []
    private var modules: [String: SlotModule] = [:]
    /// Every seed the run grafted that has finished, for the REST view.
    private var finishedViews: [SeedView] = []
    private var pendingEvents: [TelemetryEvent] = []
    private var telemetryCounter = 0
    private var lastFetch: KernelOrigin?
    private var fallbacks = 0
    public private(set) var germinations = 0

    /// A resumed run's germinations so far, from its checkpoint (never lowers the count).
    public func resumeGerminations(_ count: Int) { germinations = max(germinations, count) }
    private var epoch = 0
    private var hostFrozen = false
    private var hostLearningRate: Float?

    public init(
        runId: String, settings: SeedSettings, kernels: any SeedKernelProvider, budgetMs: Double = 10,
        registry: SeedRegistry? = nil, publish: @escaping (TelemetryPacket) -> Void = { _ in },
        makeBranch: ((CompiledKernel, ParameterBlock) throws -> any SeedBranch)? = nil,
        makeWideningBranch: ((WideningShape, ParameterBlock, String) throws -> any SeedBranch)? = nil,
        makeConvBranch: ((ConvBranchShape, ParameterBlock, String) throws -> any SeedBranch)? = nil,
        makeConvInsert: ((ConvInsertShape, ParameterBlock, String) throws -> any SeedBranch)? = nil
    ) {
        self.runId = runId
        self.settings = settings
        self.budgetMs = budgetMs
        self.kernels = kernels
        self.registry = registry
        self.publish = publish
        self.makeBranch = makeBranch ?? { try KernelBranch($0, block: $1) }
        self.makeWideningBranch =
            makeWideningBranch ?? { shape, block, seedId in
                let branch = WideningBranch(shape: shape, block: block)
                branch.initialise(seed: SeedManager.fnv1a(seedId))
                return branch
            }
        self.makeConvBranch =
            makeConvBranch ?? { shape, block, seedId in
                let branch = ConvBranchSeed(shape: shape, block: block)
                branch.initialise(seed: SeedManager.fnv1a(seedId))
                return branch
            }
        self.makeConvInsert = makeConvInsert ?? { shape, block, _ in ConvInsertSeed(shape: shape, block: block) }
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    deinit { registry?.deactivate(runId) }

    public var isolationViolations: Int { guardian.violationCount }
    public var slotModules: [SlotModule] { slotWidths.compactMap { modules[$0.name] } }

    // MARK: - Boundary, first half

    /// Syncs with the model (a rollback may have swapped modules), closes the epoch's
    /// measurements, finishes culls begun during the epoch (CULLING → CANCELLED, buffers
    /// freed, slot embargoed) and lifts expired pauses.
    public func beginBoundary(_ state: EpochState) -> (report: BoundaryReport, decisions: [EpochDecisionBox]) {
        epoch = state.summary.epoch
        architecture = state.architecture
        slotWidths = state.slots.map { ($0.name, $0.layer, $0.width) }
        guardian.register(hostGroups: state.parameterGroups.filter { $0.name.hasPrefix("host.") })
        // The host's current rate (a rollback or an optimizer command may have changed it).
        hostLearningRate = state.parameterGroups.first { $0.name.hasPrefix("host.") }?.learningRate ?? hostLearningRate
        for slot in state.slots {
            if let module = slot.module as? SlotModule, module === modules[slot.name] { continue }
            modules[slot.name] = slot.module as? SlotModule
        }
        var finished: [FinishedSeed] = []
        var decisions: [EpochDecisionBox] = []
        for module in slotModules {
            let ablation = state.summary.slots.first { $0.name == module.name }.flatMap { summary in
                summary.ablationValidationLoss.map { ($0, summary.ablationValidationAccuracy ?? 0) }
            }
            for seed in module.seeds { seed.closeEpoch(epoch, ablation: seed === module.active ? ablation : nil) }
            if let seed = module.active, let until = seed.pausedUntilEpoch, epoch + 1 >= until { seed.pausedUntilEpoch = nil }
            for fossil in module.fossils where fossil.cullRequest.isSet {
                module.beginCull(fossil, reason: "operator", quarantine: false)
                finished.append(finishCull(fossil, in: module))
            }
            if let seed = module.active, seed.cullReason != nil { finished.append(finishCull(seed, in: module)) }
            if module.isEmpty {
                // Nothing grafted any more: the slot is the bare host again, at zero cost.
                decisions.append(EpochDecisionBox(decision: .install(module: nil, slot: module.name)))
                modules[module.name] = nil
            }
        }
        return (report(finished: finished), decisions)
    }

    func report(finished: [FinishedSeed]) -> BoundaryReport {
        var seeds: [SeedSnapshot] = []
        var slots: [SlotStatus] = []
        var parameters = 0
        for slot in slotWidths {
            let module = modules[slot.name]
            let allowed = settings.slots.map { $0.contains(slot.name) } ?? isDefaultSlot(slot.name)
            if let live = module?.active {
                seeds.append(
                    SeedSnapshot(
                        seedId: live.id, slot: slot.name, layer: slot.layer, origin: live.origin, baseline: live.baseline,
                        stage: live.stage,
                        epochsInStage: live.epochsInStage(at: epoch), alpha: live.alpha, graftStep: live.graftStep,
                        rampComplete: live.graftStep >= settings.graftSteps, parameters: live.parameterCount,
                        violations: live.violationCount, paused: live.pausedUntilEpoch != nil, measurements: live.lastEpoch))
            }
            let fossilParameters = module?.fossils.reduce(0) { $0 + $1.parameterCount } ?? 0
            parameters += fossilParameters + (module?.active?.parameterCount ?? 0)
            slots.append(
                SlotStatus(
                    name: slot.name, layer: slot.layer, width: slot.width, allowed: allowed,
                    embargoUntilEpoch: module?.embargoUntilEpoch ?? embargoes[slot.name] ?? 0,
                    liveSeed: module?.active?.id, fossils: module?.fossils.count ?? 0, fossilParameters: fossilParameters))
        }
        return BoundaryReport(
            epoch: epoch, seeds: seeds, slots: slots, finished: finished, seedParameters: parameters,
            germinations: germinations)
    }

    /// Embargoes of slots whose module was removed (no seed left to carry it).
    private var embargoes: [String: Int] = [:]

    /// CULLING → CANCELLED (or already CANCELLED), removed from the slot, slot embargoed.
    private func finishCull(_ seed: Seed, in module: SlotModule) -> FinishedSeed {
        let before = seed.lifecycle.history.last { $0.to == .culling || $0.to == .cancelled }?.from ?? seed.stage
        if seed.stage == .culling { try? seed.transition(to: .cancelled, epoch: epoch) }
        pendingEvents += transitionEvents(seed)
        if module.active === seed { _ = module.detachActive() } else { _ = module.removeFossil(seed.id) }
        let until = epoch + 1 + settings.embargoEpochs
        module.embargoUntilEpoch = max(module.embargoUntilEpoch, until)
        embargoes[module.name] = max(embargoes[module.name] ?? 0, until)
        pendingEvents.append(
            TelemetryEvent(
                description: "seed_culled", level: seed.quarantine ? .warning : .info,
                attributes: [
                    "seed_id": seed.id, "blueprint_id": seed.origin.requestedId, "reason": seed.cullReason ?? "policy",
                    "stage_at_failure": before.name, "embargo_until_epoch": String(until), "run_id": runId,
                ]))
        finishedViews.append(view(of: seed))
        return FinishedSeed(
            seedId: seed.id, slot: seed.slot, origin: seed.origin, baseline: seed.baseline, finalStage: seed.stage,
            stageBeforeEnd: before, parameters: seed.parameterCount, cullReason: seed.cullReason,
            quarantine: seed.quarantine, violations: seed.violationCount, measurements: seed.lastEpoch, epoch: epoch)
    }

    // MARK: - Commands

    /// Executes one command at the boundary (02-kasmina §3). Refusals are events, never errors.
    public func execute(_ command: AdaptationCommand, validation: (loss: Double, accuracy: Double)) -> CommandResult {
        switch command.commandType {
        case .seed:
            guard case .seedOperation(let operation)? = command.payload else {
                return refuse(command, "COMMAND_SEED without a seed_operation payload", event: "unsupported_command")
            }
            pendingEvents.append(
                TelemetryEvent(
                    description: "seed_operation", level: .info,
                    attributes: [
                        "command_type": command.commandType.name, "operation": operation.operation.name, "seed_id": command.targetSeedId,
                        "blueprint_id": operation.blueprintId, "run_id": runId,
                    ]))
            switch operation.operation {
            case .germinate:
                return germinate(command, operation, validation: validation)
            case .cull, .cancel:
                return cull(command, reason: command.annotations["reason"] ?? "policy")
            default:
                return transition(command, operation.operation)
            }
        case .pause:
            return pause(command)
        case .emergency:
            var result = CommandResult(accepted: true)
            for module in slotModules {
                guard let seed = module.active else { continue }
                module.beginCull(seed, reason: "emergency", quarantine: false)
                result.finished.append(finishCull(seed, in: module))
            }
            return result
        case .optimizer:
            guard case .optimizerAdjustment(let adjustment)? = command.payload, let delta = adjustment.hyperparameters["lr_delta"],
                delta.isFinite
            else {
                return refuse(command, "COMMAND_OPTIMIZER needs hyperparameters.lr_delta", event: "unsupported_command")
            }
            let factor = 1 + min(max(delta, -0.9), 1)
            pendingEvents.append(
                TelemetryEvent(
                    description: "optimizer_adjust", level: .info,
                    attributes: [
                        "command_type": command.commandType.name, "optimizer_id": adjustment.optimizerId,
                        "factor": String(format: "%.4f", factor),
                    ]))
            return CommandResult(
                accepted: true,
                decisions: hostGroupNames.map { name in
                    EpochDecisionBox(decision: .setLearningRate(group: name, learningRate: (hostRates[name] ?? 0) * factor))
                })
        default:
            return refuse(command, "\(command.commandType.name) is not executed by Kasmina", event: "unsupported_command")
        }
    }

    private var hostGroupNames: [String] { guardian.hostGroups.map(\.name) }
    private var hostRates: [String: Float] {
        Dictionary(guardian.hostGroups.map { ($0.name, $0.learningRate) }, uniquingKeysWith: { a, _ in a })
    }

    private func refuse(_ command: AdaptationCommand, _ reason: String, event: String, level: TelemetryLevel = .warning) -> CommandResult {
        pendingEvents.append(
            TelemetryEvent(
                description: event, level: level,
                attributes: [
                    "command_type": command.commandType.name, "seed_id": command.targetSeedId, "reason": reason, "run_id": runId,
                ]))
        return CommandResult(accepted: false, reason: reason, seedId: command.targetSeedId.isEmpty ? nil : command.targetSeedId)
    }

    /// The seed id a germination in `slot` at this boundary gets (unique per run; the same on
    /// a replay after a rollback).
    public func seedId(forSlot layer: Int) -> String { "seed-\(layer)-\(epoch)" }

    private func germinate(
        _ command: AdaptationCommand, _ operation: CommandSeedOperation,
        validation: (loss: Double, accuracy: Double)
    ) -> CommandResult {
        let slotName = command.annotations["slot"] ?? ""
        guard let slot = slotWidths.first(where: { $0.name == slotName }) else {
            return refuse(command, "no slot '\(slotName)' in this host", event: "germination_refused")
        }
        if let allowed = settings.slots, !allowed.contains(slot.name) {
            return refuse(command, "\(slot.name) is not one of the run's seed slots", event: "germination_refused")
        }
        let module = modules[slot.name]
        if module?.active != nil { return refuse(command, "\(slot.name) already carries a live seed", event: "germination_refused") }
        let embargo = max(module?.embargoUntilEpoch ?? 0, embargoes[slot.name] ?? 0)
        if epoch + 1 < embargo {
            return refuse(command, "\(slot.name) is embargoed until epoch \(embargo)", event: "germination_refused")
        }
        let live = slotModules.filter { $0.active != nil }.count
        if live >= settings.maxActiveSeeds {
            return refuse(command, "\(live) seeds live, the run allows \(settings.maxActiveSeeds)", event: "germination_refused")
        }
        if germinations >= settings.maxGerminations {
            return refuse(command, "the run's \(settings.maxGerminations) germinations are used", event: "germination_refused")
        }
        let id = command.targetSeedId.isEmpty ? seedId(forSlot: slot.layer) : command.targetSeedId
        if slotModules.contains(where: { $0.seeds.contains { $0.id == id } }) || finishedViews.contains(where: { $0.seedId == id }) {
            return refuse(command, "seed id \(id) is taken", event: "germination_refused")
        }

        if DepthCatalog.named(operation.blueprintId) != nil || SeedSlot.convolution(named: slot.name) != nil {
            return germinateConvInsert(command, operation, id: id, slot: slot, module: module, validation: validation)
        }
        if let units = WideningBlueprint.units(operation.blueprintId) {
            return germinateWidening(command, operation, id: id, slot: slot, units: units, module: module, validation: validation)
        }
        if ConvBranchBlueprint.named(operation.blueprintId) != nil {
            return germinateConvBranch(command, operation, id: id, slot: slot, module: module, validation: validation)
        }
        // Fetch within the budget, falling back (Urza counts and reports it).
        let provided = kernels.kernel(
            blueprintId: operation.blueprintId, width: slot.width, budgetMs: budgetMs,
            allowQuarantine: settings.allowHighRisk)
        lastFetch = provided.origin
        if provided.origin.usedFallback {
            fallbacks += 1
            pendingEvents.append(
                TelemetryEvent(
                    description: "fallback_applied", level: .warning,
                    attributes: [
                        "seed_id": id, "requested": operation.blueprintId, "used": provided.origin.kernelId,
                        "lat": String(format: "%.1f", provided.origin.fetchLatencyMs), "reason": provided.origin.fallbackReason ?? "",
                    ]))
        }
        var lifecycle = SeedLifecycle()
        let block = ParameterBlock(count: provided.compiled.parameterCount)
        let branch: any SeedBranch
        do {
            try lifecycle.transition(to: .germinating, epoch: epoch)
            branch = try makeBranch(provided.compiled, block)
            if let budget = kernelCallBudgetNanoseconds { (branch as? KernelBranch)?.kernel.cpuBudgetNanoseconds = budget }
        } catch {
            return refuse(command, "cannot instantiate \(provided.origin.kernelId): \(error)", event: "germination_refused", level: .error)
        }
        // I1: the seed's memory must not overlap the host's.
        for (what, pointer) in [("parameters", branch.parameters), ("gradients", branch.gradients)] {
            if !guardian.disabledChecks.contains(.storageOverlap), let overlap = guardian.hostOverlap(pointer, count: branch.parameterCount)
            {
                let violation = IsolationViolation(
                    check: .storageOverlap, seedId: id,
                    detail: "seed \(what) overlap host \(overlap)", epoch: epoch)
                guardian.record(violation)
                recordViolation(violation, seedViolations: 1)
                return refuse(command, violation.detail, event: "germination_refused", level: .error)
            }
        }
        germinations += 1
        let baseline = SeedBaseline(
            validationLoss: validation.loss, validationAccuracy: validation.accuracy, epoch: epoch,
            commandId: command.commandId)
        let seed = Seed(
            id: id, slot: slot.name, layer: slot.layer, origin: provided.origin, baseline: baseline, lifecycle: lifecycle,
            block: block, branch: branch, learningRate: seedLearningRate(age: 0), epoch: epoch)
        seed.reportedTransitions = 0  // a new seed: its germination is news
        // The fast path of the table: the seed trains (on its shadow objective) right away.
        try? seed.transition(to: .training, epoch: epoch)
        return attach(seed, slot: slot, module: module)
    }

    /// A widening seed: k new hidden units beside the slot's layer, shaped by the host (layer
    /// l's input width, layer l+1's width). Needs a ReLU host (the merged units must compute
    /// what the seed computed) and a slot without fossils (their width would change).
    private func germinateWidening(
        _ command: AdaptationCommand, _ operation: CommandSeedOperation, id: String,
        slot: (name: String, layer: Int, width: Int), units: Int, module: SlotModule?,
        validation: (loss: Double, accuracy: Double)
    ) -> CommandResult {
        guard let architecture, architecture.widths.count > slot.layer + 2 else {
            return refuse(command, "the host's shape is unknown", event: "germination_refused")
        }
        guard architecture.activation == .relu else {
            return refuse(command, "widening needs a ReLU host (this one uses \(architecture.activation))", event: "germination_refused")
        }
        if let module, !module.fossils.isEmpty {
            return refuse(
                command, "\(slot.name) carries fossils of width \(slot.width); widening would change it", event: "germination_refused")
        }
        // A conv branch reading this layer's output (slot l+1) or feeding its input's layer (slot
        // l−1) would change shape.
        if (architecture.branches ?? []).contains(where: { $0.layer == slot.layer + 1 || $0.layer == slot.layer - 1 }) {
            return refuse(
                command, "a conv branch of the host reads or feeds \(slot.name)'s layer; widening would reshape it",
                event: "germination_refused")
        }
        let shape = WideningShape(inputs: architecture.widths[slot.layer], units: units, outputs: architecture.widths[slot.layer + 2])
        var origin = SeedManager.builtOrigin(operation, parameterCount: shape.parameterCount, kind: WideningBlueprint.kind)
        origin.widening = shape
        vouch(&origin, HostShape(inputs: shape.inputs, outputs: shape.outputs))
        let build = { [self] (block: ParameterBlock) in try makeWideningBranch(shape, block, id) }
        return graftHostShaped(command, operation, id: id, slot: slot, module: module, origin: origin, validation: validation, build: build)
    }

    /// A conv-branch seed (`ConvBranchSeedBlueprint`): a conv branch beside the slot's layer,
    /// shaped by the host (layer l's input length, layer l+1's width). Refused where the signal
    /// is too short for its kernels and strides, and on hosts declared with conv layers.
    private func germinateConvBranch(
        _ command: AdaptationCommand, _ operation: CommandSeedOperation, id: String,
        slot: (name: String, layer: Int, width: Int), module: SlotModule?, validation: (loss: Double, accuracy: Double)
    ) -> CommandResult {
        guard let architecture else { return refuse(command, "the host's shape is unknown", event: "germination_refused") }
        guard let shape = ConvBranchSeedBlueprint.shape(operation.blueprintId, layer: slot.layer, architecture: architecture),
            shape.fits
        else {
            return refuse(
                command, "\(operation.blueprintId) does not fit \(slot.name) of this host (a conv-host slot, or a signal too short)",
                event: "germination_refused")
        }
        var origin = SeedManager.builtOrigin(operation, parameterCount: shape.parameterCount, kind: ConvBranchSeedBlueprint.kind)
        origin.convBranch = shape
        vouch(&origin, HostShape(inputs: shape.inputs, outputs: shape.outputs))
        let build = { [self] (block: ParameterBlock) in try makeConvBranch(shape, block, id) }
        return graftHostShaped(command, operation, id: id, slot: slot, module: module, origin: origin, validation: validation, build: build)
    }

    /// A depth seed (`ConvInsertSeedBlueprint`): a residual conv inserted after the conv layer
    /// of the conv slot it grows in, shaped by that layer's output. Conv slots take depth
    /// blueprints only, and depth blueprints grow in conv slots only.
    private func germinateConvInsert(
        _ command: AdaptationCommand, _ operation: CommandSeedOperation, id: String,
        slot: (name: String, layer: Int, width: Int), module: SlotModule?, validation: (loss: Double, accuracy: Double)
    ) -> CommandResult {
        guard let architecture else { return refuse(command, "the host's shape is unknown", event: "germination_refused") }
        guard let layer = SeedSlot.convolution(named: slot.name) else {
            return refuse(
                command, "\(operation.blueprintId) inserts a conv layer: it grows in a conv slot (conv-slot-<i>), not \(slot.name)",
                event: "germination_refused")
        }
        guard DepthCatalog.named(operation.blueprintId) != nil else {
            return refuse(
                command, "\(slot.name) takes depth blueprints only (conv-insert-3), not \(operation.blueprintId)",
                event: "germination_refused")
        }
        guard let shape = ConvInsertSeedBlueprint.shape(operation.blueprintId, convolution: layer, architecture: architecture),
            shape.width == slot.width
        else {
            return refuse(command, "\(operation.blueprintId) does not fit \(slot.name) of this host", event: "germination_refused")
        }
        var origin = SeedManager.builtOrigin(operation, parameterCount: shape.parameterCount, kind: ConvInsertSeedBlueprint.kind)
        origin.convInsert = shape
        // Its Tezzeret compile is keyed by the signal: length positions of `channels` channels.
        vouch(&origin, HostShape(inputs: shape.length, outputs: shape.channels))
        let build = { [self] (block: ParameterBlock) in try makeConvInsert(shape, block, id) }
        return graftHostShaped(command, operation, id: id, slot: slot, module: module, origin: origin, validation: validation, build: build)
    }

    /// Whether a slot takes seeds when the run names no slots: every dense slot; a conv slot
    /// only when the run's blueprints include a depth blueprint or its schedule names the slot
    /// (nothing but depth seeds grows there).
    private func isDefaultSlot(_ name: String) -> Bool {
        guard SeedSlot.convolution(named: name) != nil else { return true }
        return settings.blueprints?.contains { DepthCatalog.named($0) != nil } == true
            || settings.schedule?.contains { $0.slot == name } == true
    }

    /// The origin of a kernel Kasmina builds for the host's shape (nothing fetched).
    static func builtOrigin(_ operation: CommandSeedOperation, parameterCount: Int, kind: String) -> KernelOrigin {
        KernelOrigin(
            requestedId: operation.blueprintId, kernelId: operation.blueprintId, source: "built", fetchLatencyMs: 0,
            fallbackReason: nil, parameterCount: parameterCount, kind: kind)
    }

    /// A host-shaped seed's kernel is the built-in C kernel, vouched for by Tezzeret's compile
    /// at this shape in Urza: with the artifact, the origin says `urza` and names it (the
    /// artifact id, e.g. `BP052-i40-o10`); without one it stays `built` (with the reason when
    /// a fetch or compile failed).
    private func vouch(_ origin: inout KernelOrigin, _ shape: HostShape) {
        let fetch = kernels.hostShapedArtifact(blueprintId: origin.requestedId, shape: shape, budgetMs: budgetMs)
        origin.fetchLatencyMs = fetch.latencyMs
        if let artifactId = fetch.artifactId {
            origin.source = "urza"
            origin.kernelId = artifactId
        } else {
            origin.fallbackReason = fetch.reason
        }
    }

    /// Builds a host-shaped seed's branch into its own block, checks I1 and grafts it.
    private func graftHostShaped(
        _ command: AdaptationCommand, _ operation: CommandSeedOperation, id: String,
        slot: (name: String, layer: Int, width: Int), module: SlotModule?, origin: KernelOrigin,
        validation: (loss: Double, accuracy: Double), build: (ParameterBlock) throws -> any SeedBranch
    ) -> CommandResult {
        var lifecycle = SeedLifecycle()
        let block = ParameterBlock(count: origin.parameterCount)
        let branch: any SeedBranch
        do {
            try lifecycle.transition(to: .germinating, epoch: epoch)
            branch = try build(block)
        } catch {
            return refuse(command, "cannot build \(operation.blueprintId): \(error)", event: "germination_refused", level: .error)
        }
        for (what, pointer) in [("parameters", branch.parameters), ("gradients", branch.gradients)] {
            if !guardian.disabledChecks.contains(.storageOverlap), let overlap = guardian.hostOverlap(pointer, count: branch.parameterCount)
            {
                let violation = IsolationViolation(
                    check: .storageOverlap, seedId: id, detail: "seed \(what) overlap host \(overlap)", epoch: epoch)
                guardian.record(violation)
                recordViolation(violation, seedViolations: 1)
                return refuse(command, violation.detail, event: "germination_refused", level: .error)
            }
        }
        germinations += 1
        let baseline = SeedBaseline(
            validationLoss: validation.loss, validationAccuracy: validation.accuracy, epoch: epoch, commandId: command.commandId)
        let seed = Seed(
            id: id, slot: slot.name, layer: slot.layer, origin: origin, baseline: baseline, lifecycle: lifecycle,
            block: block, branch: branch, learningRate: seedLearningRate(age: 0), epoch: epoch)
        seed.reportedTransitions = 0  // a new seed: its germination is news
        try? seed.transition(to: .training, epoch: epoch)
        return attach(seed, slot: slot, module: module)
    }

    /// Grafts a germinated seed into its slot (a new slot module when the slot had none).
    private func attach(_ seed: Seed, slot: (name: String, layer: Int, width: Int), module: SlotModule?) -> CommandResult {
        var result = CommandResult(accepted: true, seedId: seed.id)
        let target: SlotModule
        if let module {
            target = module
        } else {
            target = makeSlotModule(name: slot.name, layer: slot.layer, width: slot.width)
            target.embargoUntilEpoch = embargoes[slot.name] ?? 0
            modules[slot.name] = target
            result.decisions.append(EpochDecisionBox(decision: .install(module: target, slot: slot.name)))
        }
        target.attach(seed)
        if settings.hostFrozen && !hostFrozen {
            hostFrozen = true
            result.decisions += hostGroupNames.map { EpochDecisionBox(decision: .setFrozen(group: $0, frozen: true)) }
        }
        return result
    }

    private func makeSlotModule(name: String, layer: Int, width: Int) -> SlotModule {
        SlotModule(
            name: name, layer: layer, width: width, guardian: guardian, settings: settings,
            rebuild: { [unowned self] record in try self.rebuildSeed(record, width: width) },
            onViolation: { [unowned self] violation, count in self.recordViolation(violation, seedViolations: count) })
    }

    private func findSeed(_ id: String) -> (Seed, SlotModule)? {
        for module in slotModules {
            if let seed = module.seeds.first(where: { $0.id == id }) { return (seed, module) }
        }
        return nil
    }

    private func transition(_ command: AdaptationCommand, _ operation: SeedOperation) -> CommandResult {
        guard let (seed, module) = findSeed(command.targetSeedId) else {
            return refuse(command, "no live seed \(command.targetSeedId)", event: "unknown_seed")
        }
        guard let target = Lifecycle.target(of: operation) else {
            return refuse(command, "\(operation.name) is not a lifecycle operation", event: "unsupported_command")
        }
        guard seed.cullReason == nil else { return refuse(command, "\(seed.id) is being culled", event: "illegal_transition") }
        guard Lifecycle.isAllowed(seed.stage, target) else {
            return refuse(command, LifecycleError(from: seed.stage, to: target).description, event: "illegal_transition")
        }
        // Mechanical preconditions of the stages (the gates' judgement is Tamiyo's).
        if target == .stabilizing && seed.graftStep < settings.graftSteps {
            return refuse(command, "the α ramp of \(seed.id) is at step \(seed.graftStep) of \(settings.graftSteps)", event: "gate_refused")
        }
        if target == .fossilized && !(module.active === seed) {
            return refuse(command, "\(seed.id) is already part of the host", event: "illegal_transition")
        }
        do {
            try seed.transition(to: target, epoch: epoch)
        } catch {
            return refuse(command, error.description, event: "illegal_transition")
        }
        if target == .grafting {
            seed.graftStep = 0
            seed.alpha = 0
        } else if target != .fossilized {
            seed.alpha = 1
        }
        var result = CommandResult(accepted: true, seedId: seed.id)
        if target == .fossilized && seed.addsToPreactivation {
            // Its units become host units (Tolaria rebuilds the host one layer wider) or its conv
            // branch a host branch — the same function either way. It leaves the slot now, so its
            // last transitions are reported here.
            pendingEvents += transitionEvents(seed)
            _ = module.detachActive()
            seed.alpha = 1
            seed.group.frozen = true
            if let shape = seed.origin.widening {
                result.decisions.append(
                    EpochDecisionBox(decision: .widen(layer: seed.layer, units: shape.units(from: seed.branch.parameters))))
            } else if let shape = seed.origin.convBranch {
                let values = Array(UnsafeBufferPointer(start: seed.branch.parameters, count: seed.parameterCount))
                result.decisions.append(EpochDecisionBox(decision: .addBranch(shape, values: values)))
            } else if let shape = seed.origin.convInsert {
                let values = Array(UnsafeBufferPointer(start: seed.branch.parameters, count: seed.parameterCount))
                result.decisions.append(EpochDecisionBox(decision: .insertConvolution(shape, values: values)))
            }
            if module.isEmpty {
                // Nothing else grafted there: the slot is the bare host again, at zero cost.
                modules[module.name] = nil
                result.decisions.append(EpochDecisionBox(decision: .install(module: nil, slot: module.name)))
            }
            finishedViews.append(view(of: seed))
            result.finished.append(fossilizedRecord(seed, epoch: epoch))
        } else if target == .fossilized {
            module.fossilize()
            finishedViews.append(view(of: seed))
            result.finished.append(fossilizedRecord(seed, epoch: epoch))
        }
        return result
    }

    /// What a fossilised seed leaves in the run's record (merged into the host or kept in its slot).
    private func fossilizedRecord(_ seed: Seed, epoch: Int) -> FinishedSeed {
        FinishedSeed(
            seedId: seed.id, slot: seed.slot, origin: seed.origin, baseline: seed.baseline, finalStage: .fossilized,
            stageBeforeEnd: seed.lifecycle.history.last?.from ?? .unknown, parameters: seed.parameterCount, cullReason: nil,
            quarantine: false, violations: seed.violationCount, measurements: seed.lastEpoch, epoch: epoch)
    }

    private func cull(_ command: AdaptationCommand, reason: String) -> CommandResult {
        guard let (seed, module) = findSeed(command.targetSeedId) else {
            return refuse(command, "no live seed \(command.targetSeedId)", event: "unknown_seed")
        }
        guard Lifecycle.isAllowed(seed.stage, .culling) || Lifecycle.isAllowed(seed.stage, .cancelled) else {
            return refuse(command, LifecycleError(from: seed.stage, to: .culling).description, event: "illegal_transition")
        }
        module.beginCull(seed, reason: reason, quarantine: false)
        var result = CommandResult(accepted: true, seedId: seed.id)
        result.finished.append(finishCull(seed, in: module))
        if module.isEmpty {
            result.decisions.append(EpochDecisionBox(decision: .install(module: nil, slot: module.name)))
            modules[module.name] = nil
        }
        return result
    }

    /// PAUSE (the reference ignored it): the named seed — or every live seed when none is
    /// named — computes the host function and does not learn during the next epoch; its
    /// kernel, α and optimizer state are kept for when the pause lifts.
    private func pause(_ command: AdaptationCommand) -> CommandResult {
        let targets = slotModules.compactMap(\.active).filter { command.targetSeedId.isEmpty || $0.id == command.targetSeedId }
        for seed in targets where seed.cullReason == nil {
            seed.pausedUntilEpoch = epoch + 2
            seed.group.frozen = true
        }
        pendingEvents.append(
            TelemetryEvent(
                description: "seed_paused", level: .warning,
                attributes: [
                    "seeds": targets.map(\.id).joined(separator: ","), "reason": command.annotations["risk_reason"] ?? "pause",
                    "run_id": runId,
                ]))
        return CommandResult(accepted: true, seedId: command.targetSeedId.isEmpty ? nil : command.targetSeedId)
    }

    // MARK: - Boundary, second half

    /// Seed learning rates (warm-up), the training thread's epoch for the slots, the REST
    /// view, and the epoch's telemetry packet (published, and returned).
    @discardableResult
    public func endBoundary() -> TelemetryPacket {
        for module in slotModules {
            module.epoch = epoch + 1
            if let seed = module.active {
                seed.group.learningRate = seedLearningRate(age: epoch + 1 - seed.baseline.epoch)
                if seed.pausedUntilEpoch == nil && seed.cullReason == nil { seed.group.frozen = !seed.learns }
            }
        }
        registry?.publish(
            view(),
            cullRequests: Dictionary(
                slotModules.flatMap(\.seeds).map { ($0.id, $0.cullRequest) },
                uniquingKeysWith: { a, _ in a }))
        let packet = telemetryPacket()
        publish(packet)
        return packet
    }

    /// Host rate × factor, warmed up linearly from × 0.01 over the warm-up epochs.
    func seedLearningRate(age: Int) -> Float {
        let base = (hostLearningRate ?? 1e-3) * settings.learningRateFactor
        guard settings.learningRateWarmupEpochs > 0 else { return base }
        let progress = min(1, Float(max(0, age)) / Float(settings.learningRateWarmupEpochs))
        return base * (0.01 + 0.99 * progress)
    }

    private func rebuildSeed(_ record: SeedRecord, width: Int) throws -> Seed {
        let block: ParameterBlock
        let branch: any SeedBranch
        if let shape = record.origin.widening {
            // Its tensors are restored by Tolaria right after (the `seed.<id>` group).
            block = ParameterBlock(count: shape.parameterCount)
            branch = try makeWideningBranch(shape, block, record.id)
        } else if let shape = record.origin.convBranch, shape.fits {
            block = ParameterBlock(count: shape.parameterCount)
            branch = try makeConvBranch(shape, block, record.id)
        } else if let shape = record.origin.convInsert, shape.fits {
            block = ParameterBlock(count: shape.parameterCount)
            branch = try makeConvInsert(shape, block, record.id)
        } else {
            let compiled = try kernels.rebuild(record.origin, width: width)
            block = ParameterBlock(count: compiled.parameterCount)
            branch = try makeBranch(compiled, block)
        }
        return Seed(
            id: record.id, slot: record.slot, layer: record.layer, origin: record.origin, baseline: record.baseline,
            lifecycle: try SeedLifecycle(history: record.history), block: block, branch: branch,
            learningRate: seedLearningRate(age: 0), epoch: record.stageEnteredEpoch)
    }

    /// Tolaria's restore hook: a checkpoint names a Kasmina module this model lacks.
    public func makeModule(kind: String, slot: SeedSlot, checkpointState: [UInt8]) throws -> (any SeedSlotModule)? {
        guard kind == SlotModule.moduleKind else { return nil }
        let module = makeSlotModule(name: slot.name, layer: slot.layer, width: slot.width)
        modules[slot.name] = module
        if !slotWidths.contains(where: { $0.name == slot.name }) {
            slotWidths.append((slot.name, slot.layer, slot.width))
            slotWidths.sort { $0.layer < $1.layer }
        }
        return module
    }

    // MARK: - Telemetry

    private func recordViolation(_ violation: IsolationViolation, seedViolations: Int) {
        let event = TelemetryEvent(
            description: "violation_recorded", level: .warning,
            attributes: [
                "violations": String(guardian.violationCount), "seed_id": violation.seedId, "check": violation.check.rawValue,
                "seed_violations": String(seedViolations), "detail": violation.detail, "run_id": runId,
            ])
        pendingEvents.append(event)
        // Spec §8: a violation is reported at once, not only at the boundary.
        telemetryCounter += 1
        publish(
            TelemetryPacket.build(
                packetId: "kasmina-telemetry-\(runId)-\(telemetryCounter)", source: "kasmina", level: .warning,
                metrics: [
                    MetricPoint(
                        name: "kasmina.isolation.violations", value: Double(guardian.violationCount), unit: "count",
                        attributes: ["run_id": runId])
                ],
                events: [event], healthStatus: .unhealthy, healthSummary: "violations", healthIndicators: ["run_id": runId]))
    }

    /// The seed's lifecycle transitions not published yet, one `seed_transition` event each
    /// (the changes SSE clients see as `seed` events; the per-epoch `seed_stage` events only
    /// restate the current stage).
    private func transitionEvents(_ seed: Seed) -> [TelemetryEvent] {
        let history = seed.lifecycle.history
        guard seed.reportedTransitions < history.count else { return [] }
        defer { seed.reportedTransitions = history.count }
        return history[seed.reportedTransitions...].map { step in
            TelemetryEvent(
                description: "seed_transition", level: .info,
                attributes: [
                    "seed_id": seed.id, "from": step.from.name, "to": step.to.name, "epoch": String(step.epoch), "run_id": runId,
                    "slot": seed.slot, "blueprint_id": seed.origin.requestedId,
                ])
        }
    }

    /// The epoch's packet (02-kasmina §8), plus per-seed metrics labelled with the seed.
    public func telemetryPacket() -> TelemetryPacket {
        telemetryCounter += 1
        let run = ["run_id": runId]
        let live = slotModules.compactMap(\.active)
        var metrics = [
            MetricPoint(name: "kasmina.seeds.active", value: Double(live.count), unit: "count", attributes: run),
            MetricPoint(name: "kasmina.isolation.violations", value: Double(guardian.violationCount), unit: "count", attributes: run),
            MetricPoint(name: "kasmina.kernel.fallbacks", value: Double(fallbacks), unit: "count", attributes: run),
            MetricPoint(name: "kasmina.isolation.overhead_ms", value: Double(guardian.checkNanoseconds) / 1e6, unit: "ms", attributes: run),
        ]
        if let fetch = lastFetch, !fetch.usedFallback, fetch.fetchLatencyMs > 0 {
            metrics.append(MetricPoint(name: "kasmina.kernel.fetch_latency_ms", value: fetch.fetchLatencyMs, unit: "ms", attributes: run))
        }
        var events = pendingEvents
        pendingEvents = []
        for module in slotModules {
            for seed in module.seeds {
                events += transitionEvents(seed)
                let labels = ["run_id": runId, "seed_id": seed.id, "slot": seed.slot, "blueprint_id": seed.origin.requestedId]
                let values: [(String, Double, String)] = [
                    ("kasmina.seed.stage", Double(seed.stage.rawValue), "count"), ("kasmina.seed.alpha", Double(seed.alpha), "ratio"),
                    ("kasmina.seed.parameters", Double(seed.parameterCount), "count"),
                    ("kasmina.seed.gradient_norm", seed.lastEpoch.gradientNorm, "score"),
                    ("kasmina.seed.isolation_violations", Double(seed.violationCount), "count"),
                    ("kasmina.seed.fetch_latency_ms", seed.origin.fetchLatencyMs, "ms"),
                    ("kasmina.seed.fallback", seed.origin.usedFallback ? 1 : 0, "bool"),
                    ("kasmina.seed.drift", seed.lastEpoch.drift, "score"),
                ]
                metrics += values.filter { $0.1.isFinite }.map { MetricPoint(name: $0.0, value: $0.1, unit: $0.2, attributes: labels) }
                events.append(
                    TelemetryEvent(
                        description: "seed_stage", level: .info,
                        attributes: ["seed_id": seed.id, "stage": seed.stage.name, "run_id": runId]))
            }
        }
        if fallbacks > 0, let fetch = lastFetch, fetch.usedFallback {
            events.append(
                TelemetryEvent(
                    description: "fallback_applied", level: .warning,
                    attributes: ["lat": String(format: "%.1f", fetch.fetchLatencyMs), "run_id": runId]))
        }
        if guardian.violationCount > 0 {
            events.append(
                TelemetryEvent(
                    description: "isolation_violations", level: .warning,
                    attributes: ["violations": String(guardian.violationCount), "run_id": runId]))
        }
        let health: (HealthStatus, String) =
            guardian.violationCount > 0
            ? (.unhealthy, "violations")
            : lastFetch?.usedFallback == true
                ? (.degraded, "fallback")
                : (lastFetch?.fetchLatencyMs ?? 0) > budgetMs ? (.degraded, "latency_high") : (.healthy, "nominal")
        return TelemetryPacket.build(
            packetId: "kasmina-telemetry-\(runId)-\(telemetryCounter)", source: "kasmina",
            level: health.0 == .healthy ? .info : .warning, metrics: metrics, events: events,
            healthStatus: health.0, healthSummary: health.1,
            healthIndicators: ["seeds": String(live.count), "run_id": runId, "epoch": String(epoch)])
    }

    // MARK: - REST view

    func view(of seed: Seed) -> SeedView {
        SeedView(
            seedId: seed.id, slot: seed.slot, blueprintId: seed.origin.requestedId, kernelId: seed.origin.kernelId,
            kernelSource: seed.origin.source, kernelKind: seed.origin.kind, fetchLatencyMs: seed.origin.fetchLatencyMs,
            fallbackReason: seed.origin.fallbackReason, stage: seed.stage.name, stageNumber: Int(seed.stage.rawValue),
            alpha: Double(seed.alpha), parameters: seed.parameterCount, germinatedEpoch: seed.baseline.epoch,
            stageEnteredEpoch: seed.stageEnteredEpoch, ageEpochs: max(0, epoch - seed.baseline.epoch),
            gradientNorm: seed.lastEpoch.gradientNorm.isFinite ? seed.lastEpoch.gradientNorm : 0,
            shadowLoss: seed.lastEpoch.shadowLoss.flatMap { $0.isFinite ? $0 : nil },
            drift: seed.lastEpoch.drift.isFinite ? seed.lastEpoch.drift : 0,
            ablationValidationLoss: seed.lastEpoch.ablationValidationLoss.flatMap { $0.isFinite ? $0 : nil },
            baselineValidationLoss: seed.baseline.validationLoss, baselineValidationAccuracy: seed.baseline.validationAccuracy,
            isolationViolations: seed.violationCount, violations: Array(seed.violations.suffix(10)),
            paused: seed.pausedUntilEpoch != nil, cullRequested: seed.cullRequest.isSet, cullReason: seed.cullReason,
            history: seed.lifecycle.history)
    }

    public func view() -> RunSeedsView {
        let live = slotModules.flatMap(\.seeds).map(view(of:))
        let liveIds = Set(live.map(\.seedId))
        let slots = slotWidths.map { slot in
            let module = modules[slot.name]
            return SlotView(
                name: slot.name, width: slot.width,
                embargoUntilEpoch: max(module?.embargoUntilEpoch ?? 0, embargoes[slot.name] ?? 0),
                fossils: module?.fossils.map(\.id) ?? [], liveSeed: module?.active?.id)
        }
        return RunSeedsView(
            runId: runId, epoch: epoch, active: true, isolationViolations: guardian.violationCount,
            seeds: finishedViews.filter { !liveIds.contains($0.seedId) } + live, slots: slots)
    }
}
