import Foundation
import Kernels
import Leyline

/// Why a run ended.
public enum TrainingOutcome: Sendable, Equatable {
    case completed
    /// The controller ended it early.
    case stoppedByController(reason: String)
    /// `TrainingControl` said stop.
    case cancelled
    /// `TrainingControl` said suspend: resumable from the last checkpoint.
    case suspended
}

/// A run that cannot go on (divergence beyond the rollback budget, unusable checkpoint).
public struct TrainingFailure: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The epoch loop. One trainer owns one model and runs on one thread:
///
/// 1. batches in a per-epoch seeded order → forward (through the seed slots), mean
///    cross-entropy, backward, optimizer step every `gradientAccumulationSteps` batches
///    (leftovers flushed at the end of the epoch);
/// 2. a validation pass over the held-out split;
/// 3. the epoch boundary, timed against the 18 ms budget: summary assembly, the controller,
///    its decisions applied;
/// 4. the summary to the sink, then a checkpoint every `checkpointInterval` epochs.
///
/// A non-finite loss (training or validation) or a loss explosion rolls the model back to
/// the last checkpoint, lowers the learning rates and carries on.
public final class Trainer {
    public let runId: String
    public let config: RunConfig
    public let split: DataSplit
    /// The host; replaced by a wider one when a widening seed fossilises (and by a checkpoint's
    /// shape on rollback or resume across such a change).
    public private(set) var model: HostMLP
    public private(set) var optimizer: Optimizer
    let checkpoints: CheckpointStore?
    let sink: any TrainingEventSink
    let controller: any EpochController
    let control: any TrainingControl

    /// The next epoch to train (0-based) = epochs completed.
    public private(set) var nextEpoch = 0
    public private(set) var globalStep: Int64 = 0
    public private(set) var rollbacks = 0
    /// Training FLOPs of the run so far (see `TrainingCost`): restored with a checkpoint on
    /// resume, kept across rollbacks (work rolled back was still spent).
    public private(set) var trainingFlops = 0.0
    var recentLosses: [Double] = []
    /// The fault-injection hook fires once per trainer.
    var faultFired = false

    // Batch staging, allocated once.
    let batchFeatures: UnsafeMutablePointer<Float>
    let batchLabels: UnsafeMutablePointer<Int32>

    public static let boundaryBudgetMs = 18.0

    public init(
        runId: String, config: RunConfig, split: DataSplit, checkpoints: CheckpointStore?,
        sink: any TrainingEventSink, controller: any EpochController = NoOpEpochController(),
        control: any TrainingControl = UninterruptedTraining()
    ) {
        self.runId = runId
        self.config = config
        self.split = split
        self.checkpoints = checkpoints
        self.sink = sink
        self.controller = controller
        self.control = control
        let architecture = HostArchitecture(
            model: config.model, inputs: split.training.featureCount, classes: split.training.classCount)
        // Validation runs in chunks of at least 256 rows: fewer, larger GEMMs.
        let maxBatch = max(config.batchSize, 256)
        model = HostMLP(architecture: architecture, maxBatch: maxBatch, learningRate: config.learningRate, seed: config.seed)
        model.labelSmoothing = config.labelSmoothing ?? 0
        optimizer = Optimizer(settings: config.optimizerSettings)
        batchFeatures = .allocate(capacity: maxBatch * architecture.inputs)
        batchLabels = .allocate(capacity: maxBatch)
    }

    deinit {
        batchFeatures.deallocate()
        batchLabels.deallocate()
    }

    /// Restores the newest intact checkpoint if there is one; returns its epoch.
    @discardableResult
    public func resumeFromCheckpoint() throws -> Int? {
        guard let found = checkpoints?.latestReporting() else { return nil }
        reportSkipped(found.skipped, resumingFrom: found.checkpoint?.metadata.epoch)
        guard let checkpoint = found.checkpoint else { return nil }
        try restore(checkpoint, keepRollbackCount: false)
        if let germinations = checkpoint.metadata.germinations { controller.resumeGerminationCount(germinations) }
        return checkpoint.metadata.epoch
    }

    /// One `checkpoint_failed` event per damaged checkpoint passed over on resume: which one,
    /// why, where it was kept, and which epoch the run goes on from instead.
    private func reportSkipped(_ skipped: [CheckpointStore.Skipped], resumingFrom epoch: Int?) {
        for item in skipped {
            let instead = epoch.map { "resuming from the checkpoint of epoch \($0)" } ?? "no older checkpoint: starting over"
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: item.epoch, kind: .checkpointFailed, level: .warning,
                    message: "checkpoint of epoch \(item.epoch) skipped: \(item.reason); \(instead)",
                    attributes: [
                        "file": item.path, "reason": item.reason, "quarantine": item.quarantine ?? "",
                        "resumed_from_epoch": epoch.map(String.init) ?? "",
                    ]))
        }
    }

    /// Trains until `config.epochs` epochs are done, the control says stop, or the controller
    /// ends the run.
    public func run() throws -> TrainingOutcome {
        if nextEpoch == 0 && globalStep == 0, checkpoints?.latest() == nil {
            // Epoch 0's checkpoint is the untrained model: there is always a state to roll back to.
            saveCheckpoint()
        }
        while nextEpoch < config.epochs {
            let epoch = nextEpoch
            let result = try trainEpoch(epoch)
            switch result {
            case .interrupted(let directive):
                return directive == .stop ? .cancelled : .suspended
            case .diverged(let kind, let reason):
                try rollBack(kind: kind, reason: reason, epoch: epoch)
                continue
            case .finished(var stats):
                let validationStart = MonotonicClock.nanoseconds()
                let validation = try evaluate(split.validation)
                stats.ablations = try evaluateAblations()
                stats.validationMs = MonotonicClock.milliseconds(since: validationStart)
                guard validation.loss.isFinite else {
                    try rollBack(kind: .lossNonFinite, reason: "validation loss is \(validation.loss)", epoch: epoch)
                    continue
                }
                if let baseline = spikeBaseline, stats.loss > config.rollback.spikeFactor * baseline {
                    try rollBack(
                        kind: .lossSpike,
                        reason: "training loss \(stats.loss) exceeds \(config.rollback.spikeFactor)× the recent baseline \(baseline)",
                        epoch: epoch)
                    continue
                }
                let stop = endOfEpoch(epoch: epoch, stats: stats, validation: validation)
                recentLosses.append(stats.loss)
                if recentLosses.count > 3 { recentLosses.removeFirst() }
                nextEpoch = epoch + 1
                let checkpointed = nextEpoch % config.checkpointInterval == 0 || nextEpoch == config.epochs || stop != nil
                if checkpointed { saveCheckpoint() }
                if let stop {
                    sink.event(TrainingEvent(runId: runId, epoch: epoch, kind: .controllerStop, level: .info, message: stop))
                    return .stoppedByController(reason: stop)
                }
                if nextEpoch < config.epochs {
                    switch control.epochBoundary() {
                    case .proceed: break
                    case .stop: return .cancelled
                    case .suspend:
                        if !checkpointed { saveCheckpoint() }
                        return .suspended
                    }
                }
            }
        }
        return .completed
    }

    // MARK: - One epoch

    struct EpochStats {
        var loss = 0.0
        var accuracy = 0.0
        var samples = 0
        var gradientNorm = 0.0
        /// Training FLOPs of the epoch.
        var flops = 0.0
        var epochMs = 0.0
        var validationMs = 0.0
        /// Validation with a module bypassed, per slot that asked for it.
        var ablations: [String: (loss: Double, accuracy: Double)] = [:]
    }

    enum EpochResult {
        case finished(EpochStats)
        case diverged(TrainingEvent.Kind, String)
        case interrupted(TrainingDirective)
    }

    func trainEpoch(_ epoch: Int) throws -> EpochResult {
        let start = MonotonicClock.nanoseconds()
        optimizer.learningRateScale = config.learningRateScale(epoch: epoch)
        let order = split.epochOrder(seed: config.seed, epoch: epoch)
        let data = split.training
        let width = data.featureCount
        let batchSize = config.batchSize
        let accumulation = config.gradientAccumulationSteps
        let lossScale = 1 / Float(accumulation)
        // Modules that step themselves (Kasmina's seeds) keep their gradients out of the host's
        // norm and clipping; groups change only at epoch boundaries.
        let groups = model.optimizedGroups.filter { $0.count > 0 }
        let selfStepping = model.selfSteppingModules
        let shadowed = model.modules(with: .shadowTraining).map {
            (layer: $0.slot.layer, convolution: $0.slot.isConvolution, width: $0.slot.width, module: $0.module)
        }
        let trainable = groups.filter { !$0.frozen }
        var lossSum = 0.0, correct = 0, samples = 0
        var normSum = 0.0, normCount = 0
        var pending = 0
        var flops = 0.0
        // Per-example and per-step cost; the architecture and the grafted modules change only
        // at epoch boundaries.
        let cost = TrainingCost(architecture: model.architecture)
        let seedPerExample = model.slots.reduce(0.0) {
            $0
                + ($1.module?.trainingFlopsPerExample
                    ?? TrainingCost.seedPerExample(parameters: $1.module?.parameterGroups.reduce(0) { $0 + $1.count } ?? 0))
        }
        let perStep =
            TrainingCost.optimizerFlopsPerParameter(config.optimizer)
            * Double(trainable.reduce(0) { $0 + $1.count } + selfStepping.reduce(0) { $0 + $1.parameterGroups.reduce(0) { $0 + $1.count } })

        // Pointer tables for the global norm, built once per epoch (groups change only at
        // epoch boundaries).
        var gradientPointers = trainable.map { Optional($0.gradients) }
        var gradientLengths = trainable.map(\.count)

        func optimizerStep() throws {
            let norm: Float
            if let clip = config.gradientClipNorm {
                norm = Kernels.clipByGlobalNorm(&gradientPointers, lengths: &gradientLengths, count: trainable.count, maxNorm: clip)
            } else {
                norm = gradientPointers.withUnsafeBufferPointer { pointers in
                    pointers.withMemoryRebound(to: UnsafePointer<Float>?.self) {
                        Kernels.globalNorm($0.baseAddress!, lengths: &gradientLengths, count: trainable.count)
                    }
                }
            }
            normSum += Double(norm)
            normCount += 1
            try optimizer.step(groups)
            for module in selfStepping { try module.optimizerStep(optimizer) }
            flops += perStep
            model.zeroGradients()
            globalStep += 1
            pending = 0
        }

        model.zeroGradients()
        var batchIndex = 0
        var rowStart = 0
        let noise = config.inputNoise ?? 0
        var noiseGenerator = RandomGenerator(seed: config.seed, stream: .inputNoise, offset: UInt64(epoch))
        do {
            try data.features.withUnsafeBufferPointer { features in
                try data.labels.withUnsafeBufferPointer { labels in
                    while rowStart < order.count {
                        let directive = control.batchBoundary()
                        if case .proceed = directive {} else { throw Interruption(directive: directive) }
                        let rows = min(batchSize, order.count - rowStart)
                        for r in 0..<rows {
                            let source = Int(order[rowStart + r])
                            (batchFeatures + r * width).update(from: features.baseAddress! + source * width, count: width)
                            batchLabels[r] = labels[source]
                        }
                        if noise > 0 {
                            for i in 0..<(rows * width) { batchFeatures[i] += noise * noiseGenerator.normal() }
                        }
                        if let fault = config.faultInjection, !faultFired, fault.nanAtEpoch == epoch, fault.nanAtBatch == batchIndex {
                            faultFired = true
                            // The output bias: no activation after it can swallow the NaN (ReLU maps NaN to 0).
                            model.outputLayer.bias[0] = .nan
                        }
                        try model.forward(batchFeatures, batch: rows, training: true)
                        let (loss, hits) = try model.loss(labels: batchLabels, batch: rows)
                        guard loss.isFinite else {
                            throw Divergence(reason: "training loss is \(loss) at epoch \(epoch), batch \(batchIndex)")
                        }
                        lossSum += Double(loss) * Double(rows)
                        correct += hits
                        samples += rows
                        flops += Double(rows) * (cost.hostPerExample + seedPerExample)
                        for (layer, convolution, slotWidth, module) in shadowed {
                            let contribution = module.capabilities.contains(.preactivation) ? module.shadowContribution : nil
                            if module.shadowActivation != nil || contribution != nil {
                                flops +=
                                    Double(rows)
                                    * (convolution ? cost.convolutionShadowPerExample[layer] : cost.shadowPerExample[layer])
                            }
                            // The module snapshots what isolation checks need, the pass runs, the module learns.
                            func shadow(width: Int, _ pass: () throws -> ShadowResult) throws {
                                module.shadowPassWillBegin()
                                let shadow = try pass()
                                try module.shadowBackward(
                                    gradient: shadow.gradient, loss: shadow.loss, correct: shadow.correct, batch: rows, width: width)
                            }
                            if convolution {
                                // A conv slot's seed adds to the slot's own output (Kasmina's inserted convs).
                                guard let contribution else { continue }
                                try shadow(width: slotWidth) {
                                    try model.shadowPass(
                                        convolutionSlot: layer, contribution: contribution, labels: batchLabels, batch: rows,
                                        lossScale: lossScale)
                                }
                            } else if let activation = module.shadowActivation {
                                try shadow(width: model.architecture.hiddenSizes[layer]) {
                                    try model.shadowPass(
                                        slot: layer, activation: activation, labels: batchLabels, batch: rows, lossScale: lossScale)
                                }
                            } else if let contribution {
                                try shadow(width: model.architecture.widths[layer + 2]) {
                                    try model.shadowPass(
                                        contributionAfter: layer, contribution: contribution, labels: batchLabels, batch: rows,
                                        lossScale: lossScale)
                                }
                            }
                        }
                        try model.backward(labels: batchLabels, batch: rows, lossScale: lossScale)
                        pending += 1
                        if pending == accumulation { try optimizerStep() }
                        rowStart += rows
                        batchIndex += 1
                    }
                }
            }
        } catch let interruption as Interruption {
            return .interrupted(interruption.directive)
        } catch let divergence as Divergence {
            return .diverged(.lossNonFinite, divergence.reason)
        }
        if pending > 0 { try optimizerStep() }
        var stats = EpochStats()
        stats.samples = samples
        stats.loss = samples > 0 ? lossSum / Double(samples) : 0
        stats.accuracy = samples > 0 ? Double(correct) / Double(samples) : 0
        stats.gradientNorm = normCount > 0 ? normSum / Double(normCount) : 0
        stats.flops = flops
        trainingFlops += flops
        stats.epochMs = MonotonicClock.milliseconds(since: start)
        return .finished(stats)
    }

    /// What a shadow pass returns (`HostMLP.shadowPass`).
    typealias ShadowResult = (loss: Float, correct: Int, gradient: UnsafePointer<Float>)

    struct Interruption: Error {
        let directive: TrainingDirective
    }

    struct Divergence: Error {
        let reason: String
    }

    /// Mean loss and accuracy over a data set, without gradients.
    public func evaluate(_ data: Dataset) throws -> (loss: Double, accuracy: Double) {
        guard data.count > 0 else { return (0, 0) }
        let width = data.featureCount
        var lossSum = 0.0, correct = 0
        try data.features.withUnsafeBufferPointer { features in
            try data.labels.withUnsafeBufferPointer { labels in
                var start = 0
                while start < data.count {
                    let rows = min(model.maxBatch, data.count - start)
                    try model.forward(features.baseAddress! + start * width, batch: rows, training: false)
                    let (loss, hits) = try model.loss(labels: labels.baseAddress! + start, batch: rows)
                    lossSum += Double(loss) * Double(rows)
                    correct += hits
                    start += rows
                }
            }
        }
        return (lossSum / Double(data.count), Double(correct) / Double(data.count))
    }

    /// The validation split once more per module that asks for an ablation, with that module
    /// bypassed (what the model would score without it).
    func evaluateAblations() throws -> [String: (loss: Double, accuracy: Double)] {
        var results: [String: (loss: Double, accuracy: Double)] = [:]
        for (slot, module) in model.modules(with: .ablation) where module.wantsAblation {
            module.bypassed = true
            defer { module.bypassed = false }
            results[slot.name] = try evaluate(split.validation)
        }
        return results
    }

    // MARK: - Epoch boundary

    /// Builds the summary, calls the controller and applies its decisions (timed together),
    /// then reports. Returns a stop reason if the controller ended the run.
    func endOfEpoch(epoch: Int, stats: EpochStats, validation: (loss: Double, accuracy: Double)) -> String? {
        let boundaryStart = MonotonicClock.nanoseconds()
        var summary = EpochSummary(
            runId: runId, experimentName: config.experimentName, epoch: epoch, epochs: config.epochs, globalStep: globalStep,
            trainLoss: stats.loss, trainAccuracy: stats.accuracy, trainSamples: stats.samples, gradientNorm: stats.gradientNorm,
            validationLoss: validation.loss, validationAccuracy: validation.accuracy, validationSamples: split.validation.count,
            epochMs: stats.epochMs, validationMs: stats.validationMs, boundaryMs: 0, controllerMs: 0,
            samplesPerSecond: stats.epochMs > 0 ? Double(stats.samples) / (stats.epochMs / 1000) : 0,
            learningRates: Dictionary(model.parameterGroups.map { ($0.name, $0.learningRate) }, uniquingKeysWith: { a, _ in a }),
            slots: slotSummaries(ablations: stats.ablations), seeds: seedStates(), timestampNs: WallClock.nanoseconds())
        summary.heldOutSplit = split.heldOut
        summary.trainingFlops = stats.flops
        summary.totalTrainingFlops = trainingFlops
        var stop: String?
        let controllerStart = MonotonicClock.nanoseconds()
        do {
            let decisions = try controller.endOfEpoch(
                EpochState(summary: summary, slots: model.slots, parameterGroups: model.parameterGroups, architecture: model.architecture))
            summary.controllerMs = MonotonicClock.milliseconds(since: controllerStart)
            for decision in decisions {
                switch decision {
                case .setLearningRate(let name, let rate):
                    for group in model.parameterGroups where group.name == name { group.learningRate = rate }
                case .setFrozen(let name, let frozen):
                    for group in model.parameterGroups where group.name == name { group.frozen = frozen }
                case .install(let module, let slot):
                    if !model.install(module, inSlot: slot) {
                        sink.event(
                            TrainingEvent(
                                runId: runId, epoch: epoch, kind: .controllerError, level: .error,
                                message: "the controller named an unknown slot '\(slot)'"))
                    }
                case .stop(let reason):
                    stop = reason
                case .widen(let layer, let units):
                    widen(layer: layer, units: units, epoch: epoch)
                case .addBranch(let shape, let values):
                    addBranch(shape, values: values, epoch: epoch)
                case .insertConvolution(let shape, let values):
                    insertConvolution(shape, values: values, epoch: epoch)
                }
            }
        } catch {
            summary.controllerMs = MonotonicClock.milliseconds(since: controllerStart)
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: epoch, kind: .controllerError, level: .error,
                    message: "the epoch controller failed: \(error)"))
        }
        summary.boundaryMs = MonotonicClock.milliseconds(since: boundaryStart)
        summary.learningRates = Dictionary(model.parameterGroups.map { ($0.name, $0.learningRate) }, uniquingKeysWith: { a, _ in a })
        summary.slots = slotSummaries(ablations: stats.ablations)
        summary.seeds = seedStates()
        summary.branches = model.architecture.branches?.map {
            BranchSpec(blueprint: $0.blueprint, slot: SeedSlot.name(forLayer: $0.layer))
        }
        summary.insertions = model.architecture.insertions?.map {
            BranchSpec(blueprint: $0.blueprint, slot: SeedSlot.name(forConvolution: $0.after))
        }

        sink.epochCompleted(summary)
        if summary.boundaryMs > Trainer.boundaryBudgetMs {
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: epoch, kind: .epochHookLatencyHigh, level: .warning,
                    message: "epoch boundary took \(summary.boundaryMs) ms (budget \(Trainer.boundaryBudgetMs) ms)",
                    attributes: ["latency_ms": String(format: "%.3f", summary.boundaryMs)]))
        }
        if let budget = config.epochTimeBudgetMs, stats.epochMs > budget {
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: epoch, kind: .epochTimeHigh, level: .warning,
                    message: "epoch took \(stats.epochMs) ms (budget \(budget) ms)",
                    attributes: ["epoch_ms": String(format: "%.3f", stats.epochMs)]))
        }
        return stop
    }

    func slotSummaries(ablations: [String: (loss: Double, accuracy: Double)] = [:]) -> [SlotSummary] {
        model.slots.map { slot in
            SlotSummary(
                name: slot.name, width: slot.width, module: slot.module?.kind ?? "identity",
                parameters: slot.module?.parameterGroups.reduce(0) { $0 + $1.count } ?? 0,
                ablationValidationLoss: ablations[slot.name]?.loss, ablationValidationAccuracy: ablations[slot.name]?.accuracy)
        }
    }

    /// Lifecycle states of every seed the grafted modules carry.
    func seedStates() -> [SeedState]? {
        let reporting = model.modules(with: .seedStates)
        return reporting.isEmpty ? nil : reporting.flatMap(\.module.seedStates)
    }

    /// Replaces the host by one whose hidden layer `layer` has `units` more units (same
    /// function). The modules of the other slots move over; the widened layer's slot starts
    /// empty (its width changed, so nothing grafted for the old width fits it).
    func widen(layer: Int, units: WideningUnits, epoch: Int) {
        guard layer >= 0, layer < model.architecture.hiddenSizes.count, units.units > 0,
            units.incoming.count == units.units * model.architecture.widths[layer],
            units.bias.count == units.units, units.outgoing.count == model.architecture.widths[layer + 2] * units.units,
            // A conv branch reading or feeding hidden layer `layer`'s output would change shape.
            !(model.architecture.branches ?? []).contains(where: { $0.layer == layer + 1 || $0.layer == layer - 1 })
        else {
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: epoch, kind: .controllerError, level: .error,
                    message: "the controller asked to widen layer \(layer) with units of the wrong shape"))
            return
        }
        let wider = model.widened(layer: layer, by: units)
        for slot in model.slots where slot.isConvolution || slot.layer != layer { wider.install(slot.module, inSlot: slot.name) }
        model = wider
    }

    /// Replaces the host by one with `shape` as one more conv branch carrying `values` (same
    /// function: the seed computed exactly this at α = 1). Existing groups keep their offsets
    /// (the branch's group comes last), values, moments and settings; the new group starts at
    /// the host's rate with zero moments. Every slot's module moves over.
    func addBranch(_ shape: ConvBranchShape, values: [Float], epoch: Int) {
        let widths = model.architecture.widths
        guard shape.layer >= 0, shape.layer < model.architecture.hiddenSizes.count, shape.inputs == widths[shape.layer],
            shape.outputs == widths[shape.layer + 2], shape.fits, values.count == shape.parameterCount
        else {
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: epoch, kind: .controllerError, level: .error,
                    message: "the controller asked to add a conv branch that does not fit the host"))
            return
        }
        let grown = HostMLP(
            architecture: model.architecture.adding(shape), maxBatch: model.maxBatch, learningRate: model.hostGroups[0].learningRate,
            seed: 0)
        grown.labelSmoothing = model.labelSmoothing
        for (old, new) in zip(model.hostGroups, grown.hostGroups) {
            new.learningRate = old.learningRate
            new.frozen = old.frozen
            new.step = old.step
        }
        let count = model.block.count
        grown.block.values.update(from: model.block.values, count: count)
        grown.block.firstMoment.update(from: model.block.firstMoment, count: count)
        grown.block.secondMoment.update(from: model.block.secondMoment, count: count)
        grown.block.firstMoment.advanced(by: count).update(repeating: 0, count: values.count)
        grown.block.secondMoment.advanced(by: count).update(repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { grown.block.values.advanced(by: count).update(from: $0.baseAddress!, count: values.count) }
        for slot in model.slots { grown.install(slot.module, inSlot: slot.name) }
        model = grown
    }

    /// Replaces the host by one with `shape` as one more inserted conv layer carrying `values`
    /// (same function: the seed added exactly this at α = 1; `HostMLP.inserting`). Every
    /// slot's module moves over.
    func insertConvolution(_ shape: ConvInsertShape, values: [Float], epoch: Int) {
        guard shape.fits, model.architecture.convolutionOutput(after: shape.after).map({ $0 == (shape.length, shape.channels) }) == true,
            values.count == shape.parameterCount
        else {
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: epoch, kind: .controllerError, level: .error,
                    message: "the controller asked to insert a conv layer that does not fit the host"))
            return
        }
        let grown = model.inserting(shape, values: values)
        for slot in model.slots { grown.install(slot.module, inSlot: slot.name) }
        model = grown
    }

    /// A host of the checkpoint's shape when widening changed it since (same inputs, classes
    /// and depth); parameters are restored right after.
    func adoptArchitecture(of meta: Checkpoint.Metadata) throws {
        guard meta.architecture != model.architecture else { return }
        let a = meta.architecture, b = model.architecture
        guard a.inputs == b.inputs, a.classes == b.classes, a.hiddenSizes.count == b.hiddenSizes.count,
            a.activation == b.activation, a.initialisation == b.initialisation, a.convolutions == b.convolutions
        else {
            throw TrainingFailure("checkpoint at epoch \(meta.epoch) was written for another architecture")
        }
        model = HostMLP(architecture: a, maxBatch: model.maxBatch, learningRate: config.learningRate, seed: config.seed)
        model.labelSmoothing = config.labelSmoothing ?? 0
    }

    // MARK: - Checkpoints and rollback

    /// Mean training loss of the last good epochs, floored at `spikeFloor` so a loss that
    /// is already near zero does not call a harmless wobble an explosion.
    var spikeBaseline: Double? {
        recentLosses.isEmpty ? nil : max(Trainer.spikeFloor, recentLosses.reduce(0, +) / Double(recentLosses.count))
    }

    static let spikeFloor = 0.1

    func makeCheckpoint() -> Checkpoint {
        var entries: [Checkpoint.TensorEntry] = []
        var tensors: [[Float]] = []
        for group in model.parameterGroups {
            for (suffix, pointer) in [("values", group.values), ("m", group.firstMoment), ("v", group.secondMoment)] {
                entries.append(.init(name: "\(group.name).\(suffix)", count: group.count))
                tensors.append(Array(UnsafeBufferPointer(start: pointer, count: group.count)))
            }
        }
        let metadata = Checkpoint.Metadata(
            runId: runId, architecture: model.architecture, epoch: nextEpoch, globalStep: globalStep,
            groups: model.parameterGroups.map { .init(name: $0.name, learningRate: $0.learningRate, frozen: $0.frozen, step: $0.step) },
            slots: model.slots.map {
                .init(name: $0.name, kind: $0.module?.kind, state: $0.module.map { Data($0.checkpointState()).base64EncodedString() })
            },
            recentLosses: recentLosses, rollbacks: rollbacks, tensors: entries, trainingFlops: trainingFlops,
            germinations: controller.germinationCount)
        return Checkpoint(metadata: metadata, tensors: tensors)
    }

    /// A checkpoint failure never stops training (spec §10): it becomes a warning event.
    func saveCheckpoint() {
        guard let checkpoints else { return }
        do {
            try checkpoints.write(makeCheckpoint())
        } catch {
            sink.event(
                TrainingEvent(
                    runId: runId, epoch: nextEpoch, kind: .checkpointFailed, level: .warning,
                    message: "checkpoint at epoch \(nextEpoch) failed: \(error)"))
        }
    }

    func restore(_ checkpoint: Checkpoint, keepRollbackCount: Bool) throws {
        let meta = checkpoint.metadata
        try adoptArchitecture(of: meta)
        for slotState in meta.slots {
            guard let slot = model.slots.first(where: { $0.name == slotState.name }) else {
                throw TrainingFailure("checkpoint names an unknown slot \(slotState.name)")
            }
            switch (slotState.kind, slot.module) {
            case (nil, _):
                model.install(nil, inSlot: slot.name)
            case (let kind?, let module?) where module.kind == kind:
                try module.restore(checkpointState: Array(Data(base64Encoded: slotState.state ?? "") ?? Data()))
            case (let kind?, _):
                // Resume or rollback across a graft: the controller rebuilds the module, then
                // its state and tensors are restored like any other.
                let state = Array(Data(base64Encoded: slotState.state ?? "") ?? Data())
                guard let factory = controller.moduleFactory,
                    let module = try factory.makeModule(kind: kind, slot: slot, checkpointState: state)
                else {
                    throw TrainingFailure("checkpoint has module '\(kind)' in \(slot.name) and the controller cannot rebuild it")
                }
                model.install(module, inSlot: slot.name)
                try module.restore(checkpointState: state)
            }
        }
        let groups = Dictionary(model.parameterGroups.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var tensorIndex = 0
        for entry in meta.tensors {
            defer { tensorIndex += 1 }
            let parts = entry.name.split(separator: ".")
            let groupName = parts.dropLast().joined(separator: ".")
            guard let group = groups[groupName], group.count == entry.count else {
                throw TrainingFailure("checkpoint tensor \(entry.name) does not match the model")
            }
            let destination =
                switch parts.last {
                case "m": group.firstMoment
                case "v": group.secondMoment
                default: group.values
                }
            checkpoint.tensors[tensorIndex].withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: entry.count) }
        }
        for state in meta.groups {
            guard let group = groups[state.name] else { continue }
            group.learningRate = state.learningRate
            group.frozen = state.frozen
            group.step = state.step
        }
        model.zeroGradients()
        nextEpoch = meta.epoch
        globalStep = meta.globalStep
        recentLosses = meta.recentLosses
        if !keepRollbackCount {
            rollbacks = meta.rollbacks
            trainingFlops = meta.trainingFlops ?? 0
        }
    }

    func rollBack(kind: TrainingEvent.Kind, reason: String, epoch: Int) throws {
        sink.event(TrainingEvent(runId: runId, epoch: epoch, kind: kind, level: .error, message: reason))
        rollbacks += 1
        guard rollbacks <= config.rollback.maxRollbacks else {
            throw TrainingFailure("\(reason); giving up after \(config.rollback.maxRollbacks) rollbacks")
        }
        guard let checkpoint = checkpoints?.latest() else {
            throw TrainingFailure("\(reason); no checkpoint to roll back to")
        }
        try restore(checkpoint, keepRollbackCount: true)
        let factor = Float(config.rollback.learningRateFactor)
        for group in model.parameterGroups { group.learningRate *= factor }
        sink.event(
            TrainingEvent(
                runId: runId, epoch: epoch, kind: .rollback, level: .warning,
                message: "rolled back to the checkpoint of epoch \(checkpoint.metadata.epoch); learning rates × \(factor)",
                attributes: [
                    "from_epoch": "\(epoch)", "to_epoch": "\(checkpoint.metadata.epoch)", "reason": kind.rawValue,
                    "rollbacks": "\(rollbacks)",
                ]))
    }
}
