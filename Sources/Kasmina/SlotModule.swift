import EsperJSON
import Foundation
import KernelRuntime
public import Kernels
public import Leyline
public import Tolaria

/// What Kasmina grafts into one Tolaria seed slot: the slot's fossilised seeds (ordinary,
/// frozen layers applied in order) followed by at most one live seed, computing exactly
/// README-morphogenesis §4 for the live seed's stage:
///
/// ```
/// forward   x = fossils(h);  h̄ = copy(x);  s = k(h̄)
///           y = x                          TRAINING (s feeds the shadow pass), paused, culling
///           y = (1−α)x + αs  |  x + α(s−h̄)  GRAFTING (convex | residual kernels)
///           y = s            |  x + (s−h̄)   STABILIZING, EVALUATING, FINE_TUNING
/// backward  ∂L/∂x = (1−α)δ   |  δ           (host path only; nothing flows back through k)
///           ∂L/∂θ = backprop of α·δ through k with dX = NULL (TRAINING: of the shadow gradient)
/// fossil    y = k(x), ∂L/∂x = J_kᵀδ, θ frozen
/// ```
///
/// Every training step the seed learns, the isolation checks run on the real buffers: I2
/// around the shadow backward, I3 on the host-path gradient, I4 around the seed's optimizer
/// step, I5 on the seed's output and gradients. Three violations cull the seed on the spot
/// (the slot computes the host function from the next batch on) and quarantine its blueprint.
///
/// A *widening* seed (`WideningBlueprint`) lives in the slot after hidden layer l but does not
/// touch the slot's activation: it reads a copy of layer l's input x̄ and adds α·s(x̄) to layer
/// l+1's pre-activation (the `.preactivation` capability), §4's residual form applied there. The
/// stages keep their meaning: TRAINING adds nothing (the shadow pass starts from that
/// pre-activation), GRAFTING ramps α, STABILIZING/EVALUATING add s, a cull adds nothing again;
/// fossilised, its units become host units (`SeedManager` turns it into Tolaria's widen). A
/// *conv-branch* seed (`ConvBranchSeedBlueprint`) takes the same path; fossilised, it becomes
/// a host branch (Tolaria's `addBranch`). A *depth* seed (`ConvInsertSeedBlueprint`) lives in
/// a conv slot and takes the same path with the slot's own output as the "pre-activation":
/// y = h + α·s(h̄); fossilised, it becomes an inserted host conv (Tolaria's `insertConvolution`).
public final class SlotModule: SeedSlotModule {
    public static let moduleKind = "kasmina"

    public let name: String
    public let layer: Int
    public let width: Int
    public private(set) var fossils: [Seed] = []
    public private(set) var active: Seed?
    /// No new seed before this epoch (set by a cull).
    public internal(set) var embargoUntilEpoch = 0
    public var bypassed = false
    let guardian: IsolationGuard
    var settings: SeedSettings
    /// Rebuilds a seed from its checkpoint record (kernel from Urza again).
    let rebuild: (SeedRecord) throws -> Seed
    /// Called on the training thread for every violation (telemetry is published at once).
    let onViolation: (IsolationViolation, Int) -> Void
    /// The epoch the training thread is in (the manager sets it at each boundary).
    var epoch = 0

    // Per-batch buffers, grown to the largest batch seen.
    private var capacity = 0
    private var hBar: UnsafeMutablePointer<Float>
    private var seedOutput: UnsafeMutablePointer<Float>
    private var seedGradient: UnsafeMutablePointer<Float>
    private var leak: UnsafeMutablePointer<Float>
    /// δ as it arrived, copied before any seed code runs: what I3 recomputes the host's share from.
    private var deltaCopy: UnsafeMutablePointer<Float>
    private var chainGradients: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    private var fossilOutputs: [UnsafeMutablePointer<Float>] = []

    enum ForwardMode: Equatable {
        case passthrough
        case training
        case blended(alpha: Float, residual: Bool, learns: Bool)
    }

    private var mode = ForwardMode.passthrough
    private var shadowReady = false
    // The widening seed's side: its mode this batch, buffers (grown as needed) and readiness.
    private var wideMode = ForwardMode.passthrough
    private var wideShadowReady = false
    private var wideInput = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var wideOutput = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var wideGradient = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var wideCapacity = (input: 1, output: 1)
    private var leakPending = false
    private var batch = 0
    /// Input of the live seed (the last fossil's output, or the slot input).
    private var seedInput: UnsafePointer<Float>?

    init(
        name: String, layer: Int, width: Int, guardian: IsolationGuard, settings: SeedSettings,
        rebuild: @escaping (SeedRecord) throws -> Seed, onViolation: @escaping (IsolationViolation, Int) -> Void
    ) {
        self.name = name
        self.layer = layer
        self.width = width
        self.guardian = guardian
        self.settings = settings
        self.rebuild = rebuild
        self.onViolation = onViolation
        hBar = .allocate(capacity: 1)
        seedOutput = .allocate(capacity: 1)
        seedGradient = .allocate(capacity: 1)
        leak = .allocate(capacity: 1)
        deltaCopy = .allocate(capacity: 1)
        chainGradients = (.allocate(capacity: 1), .allocate(capacity: 1))
    }

    deinit {
        for pointer in [hBar, seedOutput, seedGradient, leak, deltaCopy, chainGradients.0, chainGradients.1] + fossilOutputs {
            pointer.deallocate()
        }
        for pointer in [wideInput, wideOutput, wideGradient] { pointer.deallocate() }
    }

    // MARK: - What the slot holds

    public var kind: String { SlotModule.moduleKind }

    /// Tolaria runs its shadow passes, lets it step itself, measures its ablation, reports its
    /// seeds and takes a widening seed's contribution to the next layer's pre-activation.
    public var capabilities: SeedModuleCapabilities { [.shadowTraining, .selfStepping, .ablation, .seedStates, .preactivation] }

    public var parameterGroups: [ParameterGroup] { fossils.map(\.group) + (active.map { [$0.group] } ?? []) }

    /// Conv-branch seeds by their shape (weights shared across positions), the others 6P.
    public var trainingFlopsPerExample: Double? {
        seeds.reduce(0) {
            $0
                + ($1.origin.convBranch.map(TrainingCost.branchPerExample) ?? $1.origin.convInsert.map(TrainingCost.insertSeedPerExample)
                    ?? TrainingCost.seedPerExample(parameters: $1.parameterCount))
        }
    }

    public var seeds: [Seed] { fossils + (active.map { [$0] } ?? []) }

    public var seedStates: [SeedState] { seeds.map { $0.state(epoch: epoch) } }

    public var isEmpty: Bool { fossils.isEmpty && active == nil }

    /// The ablation pass measures the live seed while its output is part of the model.
    public var wantsAblation: Bool {
        guard let active, active.blended else { return false }
        return active.stage == .stabilizing || active.stage == .evaluating || active.stage == .fineTuning
    }

    func attach(_ seed: Seed) {
        precondition(active == nil, "a slot carries one live seed")
        active = seed
    }

    /// The live seed becomes a permanent, frozen layer of the host.
    func fossilize() {
        guard let seed = active else { return }
        seed.group.frozen = true
        seed.alpha = 1
        fossils.append(seed)
        active = nil
        fossilOutputs.append(.allocate(capacity: max(capacity, 1) * width))
    }

    /// Removes the live seed (after CANCELLED): its buffers go with it.
    func detachActive() -> Seed? {
        let seed = active
        active = nil
        return seed
    }

    /// Removes a fossil (the table allows FOSSILIZED → CULLING); later fossils stay in order.
    func removeFossil(_ id: String) -> Seed? {
        guard let index = fossils.firstIndex(where: { $0.id == id }) else { return nil }
        fossilOutputs.remove(at: index).deallocate()
        return fossils.remove(at: index)
    }

    // MARK: - Forward

    public func forward(
        input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, width: Int,
        training: Bool
    ) throws {
        reserve(batch: batch)
        self.batch = batch
        let count = batch * width
        var x = input
        for (index, fossil) in fossils.enumerated() {
            fossil.branch.training = false
            try fossil.branch.forward(x, into: fossilOutputs[index], batch: batch)
            x = UnsafePointer(fossilOutputs[index])
        }
        seedInput = x
        shadowReady = false
        leakPending = false
        if training, let seed = active, seed.cullRequest.isSet, seed.cullReason == nil {
            beginCull(seed, reason: "operator", quarantine: false)
        }
        guard let seed = active, !bypassed, seed.cullReason == nil, seed.pausedUntilEpoch == nil, !seed.addsToPreactivation else {
            mode = .passthrough
            return BlendMath.copy(x, to: output, count: count)
        }
        switch seed.stage {
        case .training:
            mode = .training
            BlendMath.copy(x, to: output, count: count)
            guard training else { return }
            try runSeed(seed, on: x, count: count, kernelTraining: true)
            shadowReady = seed.cullReason == nil
        case .grafting, .stabilizing, .evaluating, .fineTuning:
            let learns = training && seed.learns
            try runSeed(seed, on: x, count: count, kernelTraining: learns)
            if seed.cullReason != nil {  // I5 culled it: the host function from here on
                mode = .passthrough
                return BlendMath.copy(x, to: output, count: count)
            }
            let alpha: Float = seed.stage == .grafting ? seed.alpha : 1
            mode = .blended(alpha: alpha, residual: seed.isResidual, learns: learns)
            if seed.isResidual {
                BlendMath.residualBlend(output, x: x, s: seedOutput, xBar: hBar, alpha: alpha, count: count)
            } else {
                BlendMath.convexBlend(output, x: x, s: seedOutput, alpha: alpha, count: count)
            }
            if training {
                seed.stats.driftSum += BlendMath.drift(x, output, batch: batch, width: width)
                seed.stats.driftCount += 1
            }
        default:
            mode = .passthrough
            BlendMath.copy(x, to: output, count: count)
        }
    }

    /// h̄ = copy(x) (the detach), s = k(h̄); I5 on s while training. I4 around the call: the
    /// host's parameters (digest before and after) and the host's activation — the kernel's
    /// input must come back as it went in (h̄ compared with x, which the kernel never saw).
    private func runSeed(_ seed: Seed, on x: UnsafePointer<Float>, count: Int, kernelTraining: Bool) throws {
        BlendMath.copy(x, to: hBar, count: count)
        seed.branch.training = kernelTraining
        seed.branch.step = seed.steps
        let checking = kernelTraining || seed.stage == .training
        let before = checking ? guardian.hostValuesDigest() : 0
        guard guardedCall(seed, { try seed.branch.forward(hBar, into: seedOutput, batch: batch) }) else { return }
        if checking {
            if guardian.hostValuesDigest() != before {
                violation(seed, .hostModified, "the seed's forward changed host parameters")
            }
            let started = MonotonicClock.nanoseconds()
            let written = BlendMath.l1Distance(hBar, x, count: count)
            guardian.addCheckTime(since: started)
            if written > 0 {
                violation(seed, .hostModified, "the seed's forward wrote into its input (\(written) L1 off the host activation)")
            }
        }
        if kernelTraining || seed.stage == .training {
            let started = MonotonicClock.nanoseconds()
            let finite = BlendMath.allFinite(seedOutput, count: count)
            guardian.addCheckTime(since: started)
            if !finite { violation(seed, .nonFinite, "the seed's output holds NaN or Inf") }
        }
    }

    // MARK: - Shadow pass (TRAINING)

    public var shadowActivation: UnsafePointer<Float>? { shadowReady ? UnsafePointer(seedOutput) : nil }

    public func shadowPassWillBegin() { guardian.snapshotHostGradients() }

    public func shadowBackward(gradient: UnsafePointer<Float>, loss: Float, correct: Int, batch: Int, width: Int) throws {
        guard shadowReady || wideShadowReady, let seed = active else { return }
        // A widening seed's input is the host layer's input: there is no slot gradient for a
        // leak to reach (its isolation is checked on the host's gradient buffers instead).
        let leaking = settings.faultInjection?.detachLeak == true && !seed.addsToPreactivation
        guard guardedCall(seed, { try seed.branch.backward(gradient, inputGradient: leaking ? leak : nil) }) else { return }
        leakPending = leaking
        seed.stats.shadowLossSum += Double(loss) * Double(batch)
        seed.stats.shadowCorrect += correct
        seed.stats.shadowSamples += batch
        let change = guardian.hostGradientChange()
        if change > IsolationGuard.tolerance {
            violation(seed, .seedBackwardLeak, "the seed-only backward changed host gradients by \(change) (L1)")
        }
        checkSeedGradients(seed)
    }

    // MARK: - Backward

    public func backward(
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, batch: Int, width: Int
    ) throws {
        let count = batch * width
        // δ as it arrived, before any seed code of this backward runs (I3's reference).
        let checked = active.flatMap { mode == .passthrough || $0.cullReason != nil ? nil : $0 }
        if checked != nil { BlendMath.copy(outputGradient, to: deltaCopy, count: count) }
        // The gradient at the live seed's input: straight into the caller's buffer when there
        // is no fossil in front of it.
        let hostPath = fossils.isEmpty ? inputGradient : chainGradients.0
        switch mode {
        case .passthrough:
            BlendMath.copy(outputGradient, to: hostPath, count: count)
        case .training:
            BlendMath.copy(outputGradient, to: hostPath, count: count)
            if leakPending { BlendMath.add(hostPath, leak, count: count) }
        case .blended(let alpha, let residual, let learns):
            let hostScale: Float = residual ? 1 : 1 - alpha
            BlendMath.scale(hostPath, outputGradient, by: hostScale, count: count)
            if learns, let seed = active {
                BlendMath.scale(seedGradient, outputGradient, by: alpha, count: count)
                let leaking = settings.faultInjection?.detachLeak == true
                // I2 for the blended stages: the seed's backward (dX = NULL) must leave every
                // host gradient accumulator as it was.
                guardian.snapshotHostGradients()
                let ran = guardedCall(seed) { try seed.branch.backward(seedGradient, inputGradient: leaking ? leak : nil) }
                let change = ran ? guardian.hostGradientChange() : 0
                if change > IsolationGuard.tolerance {
                    violation(seed, .seedBackwardLeak, "the seed's backward changed host gradients by \(change) (L1)")
                }
                if leaking { BlendMath.add(hostPath, leak, count: count) }
                checkSeedGradients(seed)
            }
        }
        // I3, after every piece of seed code of this step has run: what the host receives,
        // against its share recomputed from the copy of δ and the seed's own state.
        if let seed = checked {
            checkHostSplit(seed, hostPath, deltaCopy, expectedScale: SlotModule.hostShare(of: seed), count: count)
        }
        // Back through the fossils: ordinary layers, gradient flows to the host upstream.
        guard !fossils.isEmpty else { return }
        var upstream = chainGradients.0, spare = chainGradients.1
        for index in stride(from: fossils.count - 1, through: 0, by: -1) {
            let destination = index == 0 ? inputGradient : spare
            try fossils[index].branch.backward(upstream, inputGradient: destination)
            swap(&upstream, &spare)
        }
    }

    /// The host's share of δ for the seed's stage, from the seed's own state (not from the
    /// forward's mode): δ while it trains in the shadow or is residual, (1 − α)·δ blended.
    static func hostShare(of seed: Seed) -> Float {
        guard seed.blended, !seed.addsToPreactivation, !seed.isResidual else { return 1 }
        return 1 - (seed.stage == .grafting ? seed.alpha : 1)
    }

    /// I3: the host received exactly the expected share of δ (recomputed here, independently
    /// of the code that wrote it).
    private func checkHostSplit(
        _ seed: Seed, _ received: UnsafePointer<Float>, _ delta: UnsafePointer<Float>, expectedScale: Float,
        count: Int
    ) {
        guard seed.cullReason == nil else { return }
        let started = MonotonicClock.nanoseconds()
        let deviation = BlendMath.l1Deviation(received, expectedScale: expectedScale, of: delta, count: count)
        guardian.addCheckTime(since: started)
        if deviation > IsolationGuard.tolerance {
            violation(seed, .blendedSplit, "the host received \(deviation) (L1) beyond \(expectedScale)·δ")
        }
    }

    /// I5 on the seed's gradients.
    private func checkSeedGradients(_ seed: Seed) {
        guard seed.cullReason == nil else { return }
        let started = MonotonicClock.nanoseconds()
        let finite = BlendMath.allFinite(seed.branch.gradients, count: seed.parameterCount)
        guardian.addCheckTime(since: started)
        if !finite { violation(seed, .nonFinite, "the seed's gradients hold NaN or Inf") }
    }

    // MARK: - Widening seeds (the pre-activation of layer l+1)

    public var shadowContribution: UnsafePointer<Float>? { wideShadowReady ? UnsafePointer(wideOutput) : nil }

    public func addContribution(
        layerInput: UnsafePointer<Float>, preactivation: UnsafeMutablePointer<Float>, batch: Int, inputs: Int, outputs: Int,
        training: Bool
    ) throws {
        wideMode = .passthrough
        wideShadowReady = false
        guard let seed = active, seed.addsToPreactivation, !bypassed, seed.cullReason == nil, seed.pausedUntilEpoch == nil else { return }
        let fits =
            seed.origin.widening.map { $0.inputs == inputs && $0.outputs == outputs }
            ?? seed.origin.convBranch.map { $0.inputs == inputs && $0.outputs == outputs }
            ?? seed.origin.convInsert.map { $0.width == inputs && $0.width == outputs } ?? false
        guard fits else {
            // Another seed widened a neighbouring layer since this one germinated: its units no
            // longer fit the host. It is culled (the host function, from this batch on).
            beginCull(seed, reason: "host_reshaped", quarantine: false)
            return
        }
        reserveWide(batch: batch, inputs: inputs, outputs: outputs)
        let count = batch * outputs
        func run(kernelTraining: Bool) throws {
            BlendMath.copy(layerInput, to: wideInput, count: batch * inputs)  // the detach
            seed.branch.training = kernelTraining
            seed.branch.step = seed.steps
            guard guardedCall(seed, { try seed.branch.forward(wideInput, into: wideOutput, batch: batch) }) else { return }
            let started = MonotonicClock.nanoseconds()
            let finite = BlendMath.allFinite(wideOutput, count: count)
            guardian.addCheckTime(since: started)
            if !finite { violation(seed, .nonFinite, "the seed's output holds NaN or Inf") }
        }
        switch seed.stage {
        case .training:
            guard training else { return }
            try run(kernelTraining: true)
            wideShadowReady = seed.cullReason == nil
        case .grafting, .stabilizing, .evaluating, .fineTuning:
            let learns = training && seed.learns
            try run(kernelTraining: learns)
            guard seed.cullReason == nil else { return }
            let alpha: Float = seed.stage == .grafting ? seed.alpha : 1
            wideMode = .blended(alpha: alpha, residual: true, learns: learns)
            BlendMath.addScaled(preactivation, wideOutput, alpha: alpha, count: count)
        default:
            return
        }
    }

    public func contributionBackward(preactivationGradient: UnsafePointer<Float>, batch: Int, outputs: Int) throws {
        guard case .blended(let alpha, _, let learns) = wideMode, learns, let seed = active, seed.cullReason == nil else { return }
        BlendMath.scale(wideGradient, preactivationGradient, by: alpha, count: batch * outputs)
        // I2 for the blended stages: the seed's backward (dX = NULL) must leave every host
        // gradient as it was.
        guardian.snapshotHostGradients()
        guard guardedCall(seed, { try seed.branch.backward(wideGradient, inputGradient: nil) }) else { return }
        let change = guardian.hostGradientChange()
        if change > IsolationGuard.tolerance {
            violation(seed, .seedBackwardLeak, "the seed's backward changed host gradients by \(change) (L1)")
        }
        checkSeedGradients(seed)
    }

    private func reserveWide(batch: Int, inputs: Int, outputs: Int) {
        if batch * inputs > wideCapacity.input {
            wideInput.deallocate()
            wideInput = .allocate(capacity: batch * inputs)
            wideCapacity.input = batch * inputs
        }
        if batch * outputs > wideCapacity.output {
            wideOutput.deallocate()
            wideGradient.deallocate()
            wideOutput = .allocate(capacity: batch * outputs)
            wideGradient = .allocate(capacity: batch * outputs)
            wideCapacity.output = batch * outputs
        }
    }

    // MARK: - The seed's own optimizer step

    public func optimizerStep(_ optimizer: Optimizer) throws {
        guard let seed = active, seed.learns, seed.parameterCount > 0 else { return }
        let gradients = seed.group.gradients
        let norm = BlendMath.l2Norm(gradients, count: seed.parameterCount)
        guard norm.isFinite else {
            violation(seed, .nonFinite, "the seed's gradient norm is \(norm)")
            return
        }
        seed.stats.gradientNormSum += norm
        seed.stats.gradientNormCount += 1
        let clip = AdaptiveGradientClip.bound(
            alpha: seed.alpha, configured: settings.gradientClipNorm, adaptive: settings.adaptiveGradientClip == true)
        if norm > Double(clip) {
            BlendMath.scale(gradients, gradients, by: Float(Double(clip) / norm), count: seed.parameterCount)
        }
        let before = guardian.hostValuesDigest()
        try optimizer.step([seed.group])
        if guardian.hostValuesDigest() != before {
            violation(seed, .hostModified, "the seed's optimizer step changed host parameters")
        }
        seed.steps += 1
        if seed.stage == .grafting && seed.cullReason == nil {
            seed.graftStep += 1
            seed.alpha = AlphaSchedule(steps: settings.graftSteps, temperature: settings.graftTemperature).alpha(atStep: seed.graftStep)
        }
    }

    // MARK: - Violations and culls

    /// A call into the live seed's kernel. A kernel that fails — above all one the watchdog
    /// stopped at its CPU deadline (`KernelBranch.defaultCallBudgetNanoseconds`) — is culled
    /// on the spot and its blueprint quarantined; the slot computes the host function and the
    /// run goes on. False when the call failed.
    private func guardedCall(_ seed: Seed, _ call: () throws -> Void) -> Bool {
        do {
            try call()
            return true
        } catch {
            let timeout = (error as? KernelRuntime.KernelError)?.isTimeout == true
            beginCull(seed, reason: timeout ? "kernel_timeout" : "kernel_error", quarantine: true)
            return false
        }
    }

    private func violation(_ seed: Seed, _ check: IsolationCheck, _ detail: String) {
        guard !guardian.disabledChecks.contains(check) else { return }
        let record = IsolationViolation(check: check, seedId: seed.id, detail: detail, epoch: epoch)
        seed.violations.append(record)
        guardian.record(record)
        onViolation(record, seed.violations.count)
        if seed.violations.count >= IsolationGuard.breachThreshold && seed.cullReason == nil {
            beginCull(seed, reason: "isolation_breach", quarantine: true)
        }
    }

    /// The slot computes the host function from now on (α = 0, no updates); the manager
    /// finishes the cull at the epoch boundary (CANCELLED, buffers freed, slot embargoed).
    func beginCull(_ seed: Seed, reason: String, quarantine: Bool) {
        guard seed.cullReason == nil else { return }
        seed.cullReason = reason
        seed.quarantine = seed.quarantine || quarantine
        seed.alpha = 0
        seed.group.frozen = true
        // CULLING where the table allows it, else straight to CANCELLED (e.g. from GRAFTING).
        if Lifecycle.isAllowed(seed.stage, .culling) {
            try? seed.transition(to: .culling, epoch: epoch)
        } else if Lifecycle.isAllowed(seed.stage, .cancelled) {
            try? seed.transition(to: .cancelled, epoch: epoch)
        }
    }

    // MARK: - Buffers

    private func reserve(batch: Int) {
        guard batch > capacity else { return }
        capacity = batch
        let count = batch * width
        for pointer in [hBar, seedOutput, seedGradient, leak, deltaCopy, chainGradients.0, chainGradients.1] + fossilOutputs {
            pointer.deallocate()
        }
        func zeroed() -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            return pointer
        }
        hBar = zeroed()
        seedOutput = zeroed()
        seedGradient = zeroed()
        leak = zeroed()
        deltaCopy = zeroed()
        chainGradients = (zeroed(), zeroed())
        fossilOutputs = fossils.map { _ in zeroed() }
    }

    // MARK: - Checkpoints

    public func checkpointState() -> [UInt8] {
        let state = SlotRecord(
            fossils: fossils.map(SeedRecord.init), active: active.map(SeedRecord.init),
            embargoUntilEpoch: embargoUntilEpoch)
        return (try? JanssonEncoder().encode(state)) ?? []
    }

    /// Brings the slot to the checkpoint's seeds: a seed present on both sides keeps its kernel
    /// (Tolaria then restores its tensors), a missing one is rebuilt from Urza, an extra one is
    /// dropped.
    public func restore(checkpointState: [UInt8]) throws {
        let record = try JanssonDecoder().decode(SlotRecord.self, from: checkpointState)
        let current = Dictionary(seeds.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        func seed(for record: SeedRecord) throws -> Seed {
            let seed = try current[record.id].flatMap { $0.origin == record.origin ? $0 : nil } ?? rebuild(record)
            try record.apply(to: seed)
            return seed
        }
        let restoredFossils = try record.fossils.map(seed(for:))
        let restoredActive = try record.active.map(seed(for:))
        for pointer in fossilOutputs { pointer.deallocate() }
        fossils = restoredFossils
        active = restoredActive
        fossilOutputs = fossils.map { _ in
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(capacity, 1) * width)
            pointer.initialize(repeating: 0, count: max(capacity, 1) * width)
            return pointer
        }
        embargoUntilEpoch = record.embargoUntilEpoch
        mode = .passthrough
        shadowReady = false
        wideMode = .passthrough
        wideShadowReady = false
    }
}

/// A slot's seeds in a checkpoint.
struct SlotRecord: Codable {
    var fossils: [SeedRecord]
    var active: SeedRecord?
    var embargoUntilEpoch: Int
}

/// One seed in a checkpoint: everything but its tensors (those are Tolaria's `seed.<id>` group).
public struct SeedRecord: Codable, Sendable {
    public var id: String
    public var slot: String
    public var layer: Int
    public var origin: KernelOrigin
    public var baseline: SeedBaseline
    public var history: [SeedLifecycle.Transition]
    public var alpha: Float
    public var graftStep: Int
    public var pausedUntilEpoch: Int?
    public var violations: [IsolationViolation]
    public var cullReason: String?
    public var quarantine: Bool
    public var stageEnteredEpoch: Int
    public var steps: UInt64

    init(_ seed: Seed) {
        id = seed.id
        slot = seed.slot
        layer = seed.layer
        origin = seed.origin
        baseline = seed.baseline
        history = seed.lifecycle.history
        alpha = seed.alpha
        graftStep = seed.graftStep
        pausedUntilEpoch = seed.pausedUntilEpoch
        violations = seed.violations
        cullReason = seed.cullReason
        quarantine = seed.quarantine
        stageEnteredEpoch = seed.stageEnteredEpoch
        steps = seed.steps
    }

    func apply(to seed: Seed) throws {
        seed.lifecycle = try SeedLifecycle(history: history)
        seed.reportedTransitions = history.count
        seed.alpha = alpha
        seed.graftStep = graftStep
        seed.pausedUntilEpoch = pausedUntilEpoch
        seed.violations = violations
        seed.cullReason = cullReason
        seed.quarantine = quarantine
        seed.stageEnteredEpoch = stageEnteredEpoch
        seed.steps = steps
        seed.group.frozen = !seed.learns
    }
}
