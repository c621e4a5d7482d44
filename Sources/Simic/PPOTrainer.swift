import Foundation
import Kernels
import Leyline
public import TamiyoNetwork

/// Metrics of one PPO update (means over its minibatches).
public struct PPOUpdateMetrics: Sendable, Equatable, Codable {
    public var update: Int
    public var policyLoss: Double
    public var valueLoss: Double
    public var entropy: Double
    public var totalLoss: Double
    /// Mean approximate KL(anchor ‖ new) over the update's minibatches.
    public var approxKL: Double
    /// Share of samples whose clipped term was the minimum.
    public var clipFraction: Double
    public var gradNorm: Double
    public var meanReward: Double
    public var minibatches: Int
    public var stoppedEarly: Bool
    /// Mean negative log-likelihood of the logged actions after the cloning passes (nil
    /// without cloning; reported on the first update).
    public var cloningLoss: Double?
}

/// What the held-out evaluation measured (the validator's input).
public struct PolicyEvaluation: Sendable, Equatable, Codable {
    public var averageReward: Double
    /// Clipped surrogate of the new policy against the deployed one it started from, on the
    /// held-out decisions (negative: it favours the actions that did better than expected).
    public var policyLoss: Double
    public var valueLoss: Double
    /// The param head is not trained (no target for it in a field report): always 0.
    public var paramLoss: Double
    public var policyEntropy: Double
    /// Share of the held-out decisions where the new policy's choice is an action the
    /// training data never took (offline, nothing vouches for such a choice).
    public var outOfSupport: Double
    /// Share of the held-out decisions where the new policy's choice is an action the
    /// training data took in fewer than `rare_action_share` of its decisions (out-of-support
    /// ones included): a published policy raised the learning rate at almost every boundary
    /// though the heuristic data did so rarely — cloning too short to pin the rare actions down.
    public var rareActions: Double = 0
    public var reports: Int
    public var steps: Int

    public init(
        averageReward: Double, policyLoss: Double, valueLoss: Double, paramLoss: Double, policyEntropy: Double, outOfSupport: Double = 0,
        reports: Int, steps: Int
    ) {
        self.outOfSupport = outOfSupport
        self.averageReward = averageReward
        self.policyLoss = policyLoss
        self.valueLoss = valueLoss
        self.paramLoss = paramLoss
        self.policyEntropy = policyEntropy
        self.reports = reports
        self.steps = steps
    }

    /// Jobs stored before `rare_actions` existed decode with 0 for it.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        averageReward = try c.decode(Double.self, forKey: .averageReward)
        policyLoss = try c.decode(Double.self, forKey: .policyLoss)
        valueLoss = try c.decode(Double.self, forKey: .valueLoss)
        paramLoss = try c.decode(Double.self, forKey: .paramLoss)
        policyEntropy = try c.decode(Double.self, forKey: .policyEntropy)
        outOfSupport = try c.decodeIfPresent(Double.self, forKey: .outOfSupport) ?? 0
        rareActions = try c.decodeIfPresent(Double.self, forKey: .rareActions) ?? 0
        reports = try c.decode(Int.self, forKey: .reports)
        steps = try c.decode(Int.self, forKey: .steps)
    }
}

/// PPO on Tamiyo's own network (TamiyoNetwork's layout and weight format) over the C
/// kernels: clipped surrogate (ε), value loss, entropy bonus, GAE(γ, λ) over each report's
/// trajectory (reward at its last decision), minibatch epochs, global-norm gradient clipping,
/// Adam, KL early stop. Offline: the data are fixed, so each update's clip anchor is the
/// policy at the start of that update (as in behaviour-proximal PPO); a logged behaviour
/// probability cannot be the anchor — the heuristic policy has none, and a fixed anchor would
/// freeze learning at 1 ± ε of the behaviour policy.
///
/// Trained: embeddings, trunk, action head, value head, and the slot and blueprint heads
/// (`PolicyChoiceHeads`) on the germinations whose steps record the choice: such a step's
/// log-probability is log π(germinate) + log π(slot) + log π(blueprint | slot), each head a
/// softmax over what was open then, so the ratio, the surrogate and cloning cover the whole
/// choice (no entropy bonus on the choice heads). Not trained: the param head (a field report
/// has no target for it).
public final class PPOTrainer {
    public let config: PolicyNetworkConfig
    public let settings: SimicTrainingSettings
    let count: Int
    let params: UnsafeMutablePointer<Float>
    let grads: UnsafeMutablePointer<Float>
    let adamM: UnsafeMutablePointer<Float>
    let adamV: UnsafeMutablePointer<Float>
    var adamStep: Int64 = 0
    /// The network's tensors in `params`, resolved once.
    let offsets: PolicyOffsets
    /// Per adapted layer (`PolicyDenseLayer` order) where its adapter's A and B start; empty
    /// when LoRA is off.
    let adapters: [(a: Int, b: Int)]
    static let actions = PolicyAction.allCases.count
    static let allActions: UInt32 = (1 << UInt32(PolicyAction.allCases.count)) - 1

    /// Parameters of the network proper (the adapters, when on, follow them).
    let baseCount: Int
    let rank: Int
    let scaling: Float

    public init(initial: PolicyWeights, settings: SimicTrainingSettings) {
        config = initial.config
        self.settings = settings
        let base = initial.values.count
        baseCount = base
        rank = max(0, settings.loraRank)
        scaling = rank > 0 ? Float(settings.loraAlpha) / Float(rank) : 0
        offsets = PolicyOffsets(config)
        var adapters: [(a: Int, b: Int)] = []
        var offset = offsets.count
        if rank > 0 {
            // Every dense layer of the pass carries an adapter: A [rank, inputs], then B [outputs, rank].
            for layer in PolicyDenseLayer.allCases {
                adapters.append((offset, offset + rank * layer.inputs(config)))
                offset += rank * layer.inputs(config) + layer.outputs(config) * rank
            }
        }
        self.adapters = adapters
        let n = offset
        count = n
        let params = UnsafeMutablePointer<Float>.allocate(capacity: n)
        params.initialize(repeating: 0, count: n)
        initial.values.withUnsafeBufferPointer { params.update(from: $0.baseAddress!, count: base) }
        if rank > 0 {
            // A ~ U(−1/√in, 1/√in) (Kaiming-uniform with a = √5), B = 0: the adapted network
            // starts exactly as the deployed one.
            var rng = RandomGenerator(seed: settings.seed, stream: 13)
            for layer in PolicyDenseLayer.allCases {
                let bound = 1 / Float(layer.inputs(config)).squareRoot()
                rng.initialiseUniform(params + adapters[layer.rawValue].a, count: rank * layer.inputs(config), low: -bound, high: bound)
            }
        }
        self.params = params
        grads = .allocate(capacity: n)
        adamM = .allocate(capacity: n)
        adamV = .allocate(capacity: n)
        grads.initialize(repeating: 0, count: n)
        adamM.initialize(repeating: 0, count: n)
        adamV.initialize(repeating: 0, count: n)
    }

    /// Names of the LoRA adapter tensors (empty when LoRA is off).
    public var adapterNames: [String] {
        adapters.isEmpty ? [] : PolicyDenseLayer.allCases.flatMap { [$0.name + ".lora_A", $0.name + ".lora_B"] }.sorted()
    }

    deinit {
        params.deallocate()
        grads.deallocate()
        adamM.deallocate()
        adamV.deallocate()
    }

    /// The current parameters as weights with `version`.
    /// With LoRA, W + scaling·B·A merged into each adapted layer (TamiyoNetwork's one format).
    public func weights(version: String) throws(PolicyWeightsError) -> PolicyWeights {
        var values = Array(UnsafeBufferPointer(start: params, count: baseCount))
        if rank > 0 {
            for layer in PolicyDenseLayer.allCases {
                let inputs = layer.inputs(config), outputs = layer.outputs(config)
                let w = offsets.weight(layer), a = params + adapters[layer.rawValue].a, b = params + adapters[layer.rawValue].b
                for o in 0..<outputs {
                    for i in 0..<inputs {
                        var sum: Float = 0
                        for k in 0..<rank { sum += b[o * rank + k] * a[k * inputs + i] }
                        values[w + o * inputs + i] += scaling * sum
                    }
                }
            }
        }
        return try PolicyWeights(config: config, values: values, policyVersion: version)
    }

    // MARK: - Steps

    /// One decision to learn from.
    struct Step {
        var features: [Float]
        var stage: Int
        var blueprint: Int
        var action: Int32
        var mask: UInt32
        var reward: Double
        var terminal: Bool
        var choice: Choice? = nil
    }

    /// What a germination chose among: the slots (features, open ones) and the candidates.
    struct Choice {
        var slots: [[Float]]
        var open: UInt32
        var slot: Int
        var candidates: [(index: Int, features: [Float])]
        var candidateSlots: [Int]
        var candidate: Int
    }

    /// The choice a step records, when it is complete and consistent with this network.
    static func choice(_ s: PolicyStep, config: PolicyNetworkConfig) -> Choice? {
        let sd = config.slotFeatureDim, bd = config.blueprintFeatureDim, n = s.candidateIndices.count
        guard s.chosenSlot > 0, s.chosenCandidate > 0, !s.slotFeatures.isEmpty, s.slotFeatures.count % sd == 0, n > 0,
            s.candidateSlots.count == n, s.candidateFeatures.count == n * bd
        else { return nil }
        let slotCount = s.slotFeatures.count / sd, slot = Int(s.chosenSlot) - 1, candidate = Int(s.chosenCandidate) - 1
        guard slotCount <= 32, slot < slotCount, candidate < n, Int(s.candidateSlots[candidate]) == slot,
            s.openSlots & (1 << UInt32(slot)) != 0, s.candidateSlots.allSatisfy({ Int($0) < slotCount })
        else { return nil }
        return Choice(
            slots: (0..<slotCount).map { Array(s.slotFeatures[($0 * sd)..<(($0 + 1) * sd)]) }, open: s.openSlots, slot: slot,
            candidates: (0..<n).map {
                (min(Int(s.candidateIndices[$0]), config.blueprintVocab - 1), Array(s.candidateFeatures[($0 * bd)..<(($0 + 1) * bd)]))
            }, candidateSlots: s.candidateSlots.map { Int($0) }, candidate: candidate)
    }

    /// The decisions of each report in epoch order, the report's reward on the last one.
    /// Steps that do not fit this network (feature width, action range) are skipped.
    static func trajectories(_ experiences: [SimicExperience], config: PolicyNetworkConfig) -> [[Step]] {
        experiences.compactMap { e -> [Step]? in
            let usable = e.steps.filter { $0.features.count == config.featureDim && Int($0.action) < actions }
                .sorted { $0.epoch < $1.epoch }
            guard !usable.isEmpty else { return nil }
            return usable.enumerated().map { index, s in
                let last = index == usable.count - 1
                return Step(
                    features: s.features, stage: min(Int(s.stageIndex), config.stageVocab - 1),
                    blueprint: min(Int(s.blueprintIndex), config.blueprintVocab - 1), action: Int32(s.action),
                    mask: (s.validActions | 1 << s.action) & allActions, reward: last ? e.reward : 0, terminal: last,
                    choice: Int(s.action) == PolicyAction.germinate.rawValue ? choice(s, config: config) : nil)
            }
        }
    }

    // MARK: - Forward / backward over a batch of steps

    /// A batch of steps through the network (TamiyoNetwork's `PolicyPass`), with the masked
    /// softmax over the logged actions and the LoRA activations kept for the backward pass.
    final class Batch: PolicyLayerAdapter {
        unowned let trainer: PPOTrainer
        let n: Int
        let pass: PolicyPass
        let logp, probs, entropy: UnsafeMutablePointer<Float>
        let mask: UnsafeMutablePointer<UInt32>
        let actions: UnsafeMutablePointer<Int32>
        /// Per row, the germination's choice with its heads' probabilities over the slots and
        /// candidates (0 where masked) and log π(slot) + log π(blueprint | slot).
        var choices: [Choice?]
        var slotProbabilities: [[Float]]
        var blueprintProbabilities: [[Float]]
        var choiceLogp: [Float]
        /// Per adapted layer, u = X·Aᵀ [n, rank] (kept for the backward pass).
        var loraU: [UnsafeMutablePointer<Float>?] = Array(repeating: nil, count: PolicyDenseLayer.allCases.count)

        init(_ n: Int, _ trainer: PPOTrainer) {
            self.trainer = trainer
            self.n = n
            pass = PolicyPass(config: trainer.config, capacity: n)
            logp = .allocate(capacity: n * PPOTrainer.actions)
            probs = .allocate(capacity: n * PPOTrainer.actions)
            entropy = .allocate(capacity: n)
            mask = .allocate(capacity: n)
            actions = .allocate(capacity: n)
            choices = Array(repeating: nil, count: n)
            slotProbabilities = Array(repeating: [], count: n)
            blueprintProbabilities = Array(repeating: [], count: n)
            choiceLogp = Array(repeating: 0, count: n)
        }

        deinit {
            for p in [logp, probs, entropy] { p.deallocate() }
            mask.deallocate()
            actions.deallocate()
            for u in loraU { u?.deallocate() }
        }

        var logits: UnsafeMutablePointer<Float> { pass.logits }
        var values: UnsafeMutablePointer<Float> { pass.values }

        /// log π(a_r | s_r), with the choice of slot and blueprint for a recorded germination.
        func actionLogp(_ r: Int) -> Float { logp[r * PPOTrainer.actions + Int(actions[r])] + choiceLogp[r] }

        /// The choice heads over row `r`'s trunk output: masked softmaxes and the choice's log-probability.
        func chooseHeads(_ r: Int, _ choice: Choice) {
            let t = trainer, h2 = pass.h2 + r * t.config.hiddenDim
            let slotScores = PolicyChoiceHeads.slotScores(
                h2: h2, slots: choice.slots, config: t.config, offsets: t.offsets, parameters: t.params)
            let blueprintScores = PolicyChoiceHeads.blueprintScores(
                h2: h2, blueprints: choice.candidates, config: t.config, offsets: t.offsets, parameters: t.params)
            let slots = PPOTrainer.softmax(slotScores) { choice.open & (1 << UInt32($0)) != 0 }
            let blueprints = PPOTrainer.softmax(blueprintScores) { choice.candidateSlots[$0] == choice.slot }
            slotProbabilities[r] = slots
            blueprintProbabilities[r] = blueprints
            choices[r] = choice
            choiceLogp[r] = log(max(slots[choice.slot], 1e-30)) + log(max(blueprints[choice.candidate], 1e-30))
        }

        /// output[n, outputs] += scaling · (X Aᵀ) Bᵀ
        func forward(_ layer: PolicyDenseLayer, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int) {
            let t = trainer
            guard t.rank > 0 else { return }
            let inputs = layer.inputs(t.config), outputs = layer.outputs(t.config), adapter = t.adapters[layer.rawValue]
            let u = UnsafeMutablePointer<Float>.allocate(capacity: n * t.rank)
            loraU[layer.rawValue] = u
            let delta = UnsafeMutablePointer<Float>.allocate(capacity: n * outputs)
            defer { delta.deallocate() }
            t.check("\(layer.name) lora") { () throws(KernelError) in
                try Kernels.linearForward(
                    out: u, input: input, weights: t.params + adapter.a, bias: nil, batch: n, inputs: inputs, outputs: t.rank)
                try Kernels.linearForward(
                    out: delta, input: u, weights: t.params + adapter.b, bias: nil, batch: n, inputs: t.rank, outputs: outputs)
            }
            for i in 0..<(n * outputs) { output[i] += t.scaling * delta[i] }
        }

        /// Adapter gradients from outputGradient; adds the adapter path's input gradient into inputGradient.
        func backward(
            _ layer: PolicyDenseLayer, input: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
            inputGradient: UnsafeMutablePointer<Float>, rows: Int
        ) {
            let t = trainer
            guard t.rank > 0, let u = loraU[layer.rawValue] else { return }
            let inputs = layer.inputs(t.config), outputs = layer.outputs(t.config), adapter = t.adapters[layer.rawValue]
            let scaled = UnsafeMutablePointer<Float>.allocate(capacity: n * outputs)
            let du = UnsafeMutablePointer<Float>.allocate(capacity: n * t.rank)
            let dx = UnsafeMutablePointer<Float>.allocate(capacity: n * inputs)
            defer { for q in [scaled, du, dx] { q.deallocate() } }
            for i in 0..<(n * outputs) { scaled[i] = t.scaling * outputGradient[i] }
            t.check("\(layer.name) lora backward") { () throws(KernelError) in
                try Kernels.linearBackward(
                    inputGradient: du, weightGradient: t.grads + adapter.b, biasGradient: nil, outputGradient: scaled, input: u,
                    weights: t.params + adapter.b, batch: n, inputs: t.rank, outputs: outputs)
                try Kernels.linearBackward(
                    inputGradient: dx, weightGradient: t.grads + adapter.a, biasGradient: nil, outputGradient: du, input: input,
                    weights: t.params + adapter.a, batch: n, inputs: inputs, outputs: t.rank)
            }
            for i in 0..<(n * inputs) { inputGradient[i] += dx[i] }
        }
    }

    /// Runs kernel calls whose failure can only be a shape bug.
    func check(_ what: String, _ body: () throws(KernelError) -> Void) {
        do { try body() } catch { preconditionFailure("\(what) failed: \(error) (a shape bug)") }
    }

    func forward(_ steps: [Step]) -> Batch {
        let n = steps.count
        let b = Batch(n, self)
        for (r, s) in steps.enumerated() {
            b.pass.setRow(r, features: s.features, stage: s.stage, blueprint: s.blueprint, parameters: params)
            b.mask[r] = s.mask
            b.actions[r] = s.action
        }
        check("policy forward") { () throws(KernelError) in
            try b.pass.forward(rows: n, parameters: params, adapter: rank > 0 ? b : nil)
            try Kernels.maskedLogSoftmax(
                logProbabilities: b.logp, probabilities: b.probs, entropy: b.entropy, logits: b.logits, mask: b.mask, batch: n,
                actions: PPOTrainer.actions)
        }
        for (r, s) in steps.enumerated() { if let choice = s.choice { b.chooseHeads(r, choice) } }
        return b
    }

    /// Softmax over the `allowed` positions (0 elsewhere), max-shifted.
    static func softmax(_ scores: [Float], allowed: (Int) -> Bool) -> [Float] {
        let top = scores.indices.filter(allowed).map { scores[$0] }.max() ?? 0
        var p = scores.indices.map { allowed($0) ? exp(scores[$0] - top) : 0 }
        let sum = p.reduce(0, +)
        if sum > 0 { p = p.map { $0 / sum } }
        return p
    }

    /// Gradient on the trunk's output [n, hiddenDim] from the choice heads, for per-row
    /// coefficients ∂loss/∂log π (the heads' own parameter gradients go into `grads`).
    func choiceBackward(_ b: Batch, coefficients: [Float]) -> [Float]? {
        guard b.choices.contains(where: { $0 != nil }) else { return nil }
        let h = config.hiddenDim
        var dh2 = [Float](repeating: 0, count: b.n * h)
        dh2.withUnsafeMutableBufferPointer { buffer in
            for r in 0..<b.n {
                guard let choice = b.choices[r], coefficients[r] != 0 else { continue }
                // ∂ log softmax(s)[k] / ∂ s_j = 1[j = k] − p_j, over the allowed positions.
                let c = coefficients[r]
                let dSlot = b.slotProbabilities[r].enumerated().map { j, p in c * ((j == choice.slot ? 1 : 0) - p) }
                let dBlueprint = b.blueprintProbabilities[r].enumerated().map { j, p in c * ((j == choice.candidate ? 1 : 0) - p) }
                PolicyChoiceHeads.backward(
                    h2: b.pass.h2 + r * h, slots: choice.slots, slotGradient: dSlot, blueprints: choice.candidates,
                    blueprintGradient: dBlueprint, config: config, offsets: offsets, parameters: params, gradients: grads,
                    dh2: buffer.baseAddress! + r * h)
            }
        }
        return dh2
    }

    /// Accumulates into `grads` the gradient flowing back from dlogits [n, A], dvalues [n] and
    /// the choice heads (for the per-row coefficients ∂loss/∂log π).
    func backward(_ b: Batch, dlogits: UnsafePointer<Float>, dvalues: UnsafePointer<Float>, coefficients: [Float]) {
        let hidden = choiceBackward(b, coefficients: coefficients)
        check("policy backward") { () throws(KernelError) in
            try b.pass.backward(
                logitsGradient: dlogits, valuesGradient: dvalues, parameters: params, gradients: grads, adapter: rank > 0 ? b : nil,
                hiddenGradient: hidden)
        }
        // LoRA trains the adapters only: the base weights and embeddings stay frozen.
        if rank > 0 { grads.update(repeating: 0, count: baseCount) }
    }

    // MARK: - Advantages

    /// GAE(γ, λ) per trajectory with the current network's values; returns (advantages,
    /// returns, anchor log-probs) aligned with the flattened steps.
    func estimate(_ trajectories: [[Step]]) -> (advantages: [Float], returns: [Float], logpOld: [Float]) {
        var advantages: [Float] = [], returns: [Float] = [], logpOld: [Float] = []
        let gamma = settings.gamma, lambda = settings.gaeLambda
        for trajectory in trajectories {
            let b = forward(trajectory)
            var gae = 0.0
            var adv = [Double](repeating: 0, count: trajectory.count)
            for t in stride(from: trajectory.count - 1, through: 0, by: -1) {
                let next = trajectory[t].terminal || t == trajectory.count - 1 ? 0 : Double(b.values[t + 1])
                let delta = trajectory[t].reward + gamma * next - Double(b.values[t])
                gae = delta + gamma * lambda * (trajectory[t].terminal ? 0 : gae)
                adv[t] = gae
            }
            for t in 0..<trajectory.count {
                advantages.append(Float(adv[t]))
                returns.append(Float(adv[t] + Double(b.values[t])))
                logpOld.append(b.actionLogp(t))
            }
        }
        return (advantages, returns, logpOld)
    }

    static func normalised(_ values: [Float]) -> [Float] {
        guard !values.isEmpty else { return values }
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(values.count)
        let variance = values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(values.count)
        let std = variance.squareRoot() + 1e-8
        return values.map { Float((Double($0) - mean) / std) }
    }

    // MARK: - Training

    /// Runs `settings.updates` PPO updates over the trajectories; `progress` sees each update.
    public func train(_ experiences: [SimicExperience], progress: (PPOUpdateMetrics) -> Void = { _ in }) -> [PPOUpdateMetrics] {
        let trajectories = PPOTrainer.trajectories(experiences, config: config)
        let steps = trajectories.flatMap { $0 }
        guard !steps.isEmpty else { return [] }
        let meanReward = experiences.reduce(0.0) { $0 + $1.reward } / Double(max(1, experiences.count))
        var rng = SimicRandom(seed: settings.seed, stream: 11)
        var history: [PPOUpdateMetrics] = []
        var cloningLoss: Double?
        for _ in 0..<settings.cloningEpochs {
            var order = Array(steps.indices)
            rng.shuffle(&order)
            var total = 0.0
            var start = 0
            while start < order.count {
                let batch = order[start..<min(order.count, start + settings.minibatchSize)].map { steps[$0] }
                start += settings.minibatchSize
                total += clone(batch) * Double(batch.count)
            }
            cloningLoss = total / Double(steps.count)
        }
        for update in 0..<settings.updates {
            let estimate = estimate(trajectories)
            let advantages = PPOTrainer.normalised(estimate.advantages)
            var sums = (policy: 0.0, value: 0.0, entropy: 0.0, total: 0.0, kl: 0.0, clipped: 0, samples: 0, norm: 0.0, batches: 0)
            var stoppedEarly = false
            epochs: for _ in 0..<settings.epochs {
                var order = Array(steps.indices)
                rng.shuffle(&order)
                var epochKL = 0.0, epochBatches = 0
                var start = 0
                while start < order.count {
                    let indices = Array(order[start..<min(order.count, start + settings.minibatchSize)])
                    start += settings.minibatchSize
                    let r = minibatch(
                        indices.map { steps[$0] }, advantages: indices.map { advantages[$0] },
                        returns: indices.map { estimate.returns[$0] },
                        logpOld: indices.map { estimate.logpOld[$0] })
                    sums.policy += r.policy
                    sums.value += r.value
                    sums.entropy += r.entropy
                    sums.total += r.policy + settings.valueCoef * r.value - settings.entropyCoef * r.entropy
                    sums.kl += r.kl
                    sums.clipped += r.clipped
                    sums.samples += indices.count
                    sums.norm += r.norm
                    sums.batches += 1
                    epochKL += r.kl
                    epochBatches += 1
                }
                if settings.targetKL > 0 && epochKL / Double(max(1, epochBatches)) > 1.5 * settings.targetKL {
                    stoppedEarly = true
                    break epochs
                }
            }
            let n = Double(max(1, sums.batches))
            let metrics = PPOUpdateMetrics(
                update: update + 1, policyLoss: sums.policy / n, valueLoss: sums.value / n, entropy: sums.entropy / n,
                totalLoss: sums.total / n, approxKL: sums.kl / n, clipFraction: Double(sums.clipped) / Double(max(1, sums.samples)),
                gradNorm: sums.norm / n, meanReward: meanReward, minibatches: sums.batches, stoppedEarly: stoppedEarly,
                cloningLoss: update == 0 ? cloningLoss : nil)
            history.append(metrics)
            progress(metrics)
        }
        return history
    }

    /// One gradient step; returns the minibatch's losses before the step.
    func minibatch(
        _ steps: [Step], advantages: [Float], returns: [Float], logpOld: [Float]
    ) -> (
        policy: Double, value: Double, entropy: Double, kl: Double, clipped: Int, norm: Double
    ) {
        let n = steps.count
        let b = forward(steps)
        var logpNew = [Float](repeating: 0, count: n)
        for r in 0..<n { logpNew[r] = b.actionLogp(r) }
        var coef = [Float](repeating: 0, count: n)
        var clipped = 0
        let policyLoss = surrogate(coefficients: &coef, clipped: &clipped, logpNew: logpNew, logpOld: logpOld, advantages: advantages)
        var valueLoss = 0.0, entropy = 0.0, kl = 0.0
        var dvalues = [Float](repeating: 0, count: n)
        for r in 0..<n {
            let diff = Double(b.values[r]) - Double(returns[r])
            valueLoss += diff * diff / Double(n)
            dvalues[r] = Float(2 * settings.valueCoef * diff / Double(n))
            entropy += Double(b.entropy[r]) / Double(n)
            kl += Double(logpOld[r] - logpNew[r]) / Double(n)
        }
        let dlogits = logitsGradient(b, coefficients: coef, entropyWeight: Float(-settings.entropyCoef / Double(n)))
        let norm = step(b, dlogits: dlogits, dvalues: dvalues, coefficients: coef)
        return (Double(policyLoss), valueLoss, entropy, kl, clipped, Double(norm))
    }

    /// One maximum-likelihood step on the logged actions (policy head and trunk); returns the
    /// minibatch's mean negative log-likelihood before the step.
    func clone(_ steps: [Step]) -> Double {
        let n = steps.count
        let b = forward(steps)
        var nll = 0.0
        for r in 0..<n { nll -= Double(b.actionLogp(r)) / Double(n) }
        let coef = [Float](repeating: -1 / Float(n), count: n)
        let dlogits = logitsGradient(b, coefficients: coef, entropyWeight: 0)
        _ = step(b, dlogits: dlogits, dvalues: [Float](repeating: 0, count: n), coefficients: coef)
        return nll
    }

    /// The clipped surrogate against `logpOld` (coefficients: ∂loss/∂logpNew per row).
    func surrogate(
        coefficients: inout [Float], clipped: UnsafeMutablePointer<Int>?, logpNew: [Float], logpOld: [Float], advantages: [Float]
    ) -> Float {
        var loss: Float = 0
        check("surrogate") { () throws(KernelError) in
            loss = try Kernels.ppoSurrogate(
                coefficients: &coefficients, clipped: clipped, logpNew: logpNew, logpOld: logpOld, advantages: advantages,
                epsilon: Float(settings.clipEpsilon), batch: logpNew.count)
        }
        return loss
    }

    /// ∂/∂logits of Σ coefficients[r]·log π(a_r) + entropyWeight·Σ H_r over the batch.
    func logitsGradient(_ b: Batch, coefficients: [Float], entropyWeight: Float) -> [Float] {
        var dlogits = [Float](repeating: 0, count: b.n * PPOTrainer.actions)
        check("policy logits backward") { () throws(KernelError) in
            try Kernels.policyLogitsBackward(
                logitsGradient: &dlogits, probabilities: b.probs, logProbabilities: b.logp, entropy: b.entropy, actions: b.actions,
                coefficients: coefficients, entropyWeight: entropyWeight, mask: b.mask, batch: b.n, actionCount: PPOTrainer.actions)
        }
        return dlogits
    }

    /// Backward from the heads' gradients, global-norm clipping, then Adam (skipped when the
    /// norm is not finite); returns the norm before clipping.
    func step(_ b: Batch, dlogits: [Float], dvalues: [Float], coefficients: [Float]) -> Float {
        grads.update(repeating: 0, count: count)
        backward(b, dlogits: dlogits, dvalues: dvalues, coefficients: coefficients)
        var buffers: [UnsafeMutablePointer<Float>?] = [grads]
        var lengths = [count]
        let norm = Kernels.clipByGlobalNorm(&buffers, lengths: &lengths, count: 1, maxNorm: Float(settings.gradClip))
        if norm.isFinite {
            adamStep += 1
            check("adam") { () throws(KernelError) in
                try Kernels.adamStep(
                    parameters: params, m: adamM, v: adamV, gradient: grads, count: count, learningRate: Float(settings.learningRate),
                    beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, step: adamStep, decoupled: false)
            }
        }
        return norm
    }

    // MARK: - Evaluation

    /// The actions the steps of `experiences` took.
    public static func loggedActions(_ experiences: [SimicExperience]) -> Set<Int> {
        Set(experiences.flatMap { $0.steps.map { Int($0.action) } })
    }

    /// The share of the steps of `experiences` that took each action.
    public static func actionShares(_ experiences: [SimicExperience]) -> [Int: Double] {
        let actions = experiences.flatMap { $0.steps.map { Int($0.action) } }
        guard !actions.isEmpty else { return [:] }
        return actions.reduce(into: [Int: Double]()) { $0[$1, default: 0] += 1 / Double(actions.count) }
    }

    /// The validator's metrics on `experiences` (the held-out slice), the clip anchored at
    /// `deployed` — the policy training started from; `supported` = the actions the training
    /// data took, `shares` how often (rare actions: below `validation.rareActionShare`).
    public func evaluate(
        _ experiences: [SimicExperience], against deployed: PolicyWeights, supported: Set<Int>, shares: [Int: Double] = [:]
    ) -> PolicyEvaluation {
        let trajectories = PPOTrainer.trajectories(experiences, config: config)
        let steps = trajectories.flatMap { $0 }
        let averageReward = experiences.isEmpty ? 0 : experiences.reduce(0.0) { $0 + $1.reward } / Double(experiences.count)
        guard !steps.isEmpty else {
            return PolicyEvaluation(
                averageReward: averageReward, policyLoss: 0, valueLoss: 0, paramLoss: 0, policyEntropy: 0, reports: experiences.count,
                steps: 0)
        }
        let estimate = estimate(trajectories)
        let advantages = PPOTrainer.normalised(estimate.advantages)
        let reference = PPOTrainer(initial: deployed, settings: settings)
        let anchor = reference.forward(steps)
        let b = forward(steps)
        var logpNew = [Float](repeating: 0, count: steps.count), logpOld = logpNew
        var valueLoss = 0.0, entropy = 0.0, unsupported = 0, rare = 0
        for r in 0..<steps.count {
            let logits = Array(UnsafeBufferPointer(start: b.logits + r * PPOTrainer.actions, count: PPOTrainer.actions))
            if let choice = maskedArgmax(logits, allowed: { b.mask[r] & (1 << UInt32($0)) != 0 }) {
                if !supported.contains(choice) { unsupported += 1 }
                if !supported.contains(choice) || (shares[choice] ?? 0) < settings.validation.rareActionShare { rare += 1 }
            }
            logpNew[r] = b.actionLogp(r)
            logpOld[r] = anchor.actionLogp(r)
            let diff = Double(b.values[r]) - Double(estimate.returns[r])
            valueLoss += diff * diff / Double(steps.count)
            entropy += Double(b.entropy[r]) / Double(steps.count)
        }
        var coef = [Float](repeating: 0, count: steps.count)
        let policyLoss = surrogate(coefficients: &coef, clipped: nil, logpNew: logpNew, logpOld: logpOld, advantages: advantages)
        var evaluation = PolicyEvaluation(
            averageReward: averageReward, policyLoss: Double(policyLoss), valueLoss: valueLoss, paramLoss: 0, policyEntropy: entropy,
            outOfSupport: Double(unsupported) / Double(steps.count), reports: experiences.count, steps: steps.count)
        evaluation.rareActions = Double(rare) / Double(steps.count)
        return evaluation
    }
}
