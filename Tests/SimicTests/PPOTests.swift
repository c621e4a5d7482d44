import EsperTestSupport
import Foundation
import Leyline
import TamiyoNetwork
import Testing

@testable import Simic

/// PPO on Tamiyo's network learns a problem with a known optimum, deterministically.
@Suite struct PPOTests {
    static let best: [PolicyAction] = [.optimizer, .germinate]

    static func settings(seed: UInt64 = 3) -> SimicTrainingSettings {
        var s = SimicTrainingSettings()
        s.updates = 30
        s.epochs = 4
        s.minibatchSize = 32
        s.learningRate = 3e-3
        s.seed = seed
        s.holdoutFraction = 0
        // PPO alone (the service's default clones first; the cloning test sets its own passes).
        s.cloningEpochs = 0
        return s
    }

    static func experiences(_ n: Int) -> [SimicExperience] {
        let buffer = FieldReportReplayBuffer(capacity: 10_000)
        buffer.extend(Bandit.reports(n, best: best), now: Date().timeIntervalSince1970)
        return buffer.all
    }

    @Test func learnsTheContextualBanditOptimum() throws {
        let initial = PolicyWeights.initial()
        let before = Bandit.expectedReward(initial, best: PPOTests.best)
        // Uniform over 4 actions: 1/4·(+1) + 3/4·(−1) = −0.5 (the initial net is near uniform).
        #expect(before < -0.2)
        let trainer = PPOTrainer(initial: initial, settings: PPOTests.settings())
        let history = trainer.train(PPOTests.experiences(400))
        #expect(history.count == 30)
        let trained = try trainer.weights(version: "bandit")
        let after = Bandit.expectedReward(trained, best: PPOTests.best)
        #expect(after > 0.8, "expected reward \(before) → \(after)")
        #expect(Bandit.decision(trained, context: 0) == .optimizer && Bandit.decision(trained, context: 1) == .germinate)
        // The clip is doing its job: some samples hit it, and the value head learnt the returns.
        #expect(history.contains { $0.clipFraction > 0 })
        #expect(history.last!.valueLoss < history.first!.valueLoss)
        // Untrained heads are left exactly as they were.
        #expect(trained.tensor("param.weight") == initial.tensor("param.weight"))
        #expect(trained.tensor("slot.weight") == initial.tensor("slot.weight"))
        #expect(trained.tensor("action.weight") != initial.tensor("action.weight"))
    }

    @Test func aFixedSeedReproducesTheWeights() throws {
        let data = PPOTests.experiences(120)
        var s = PPOTests.settings(seed: 9)
        s.updates = 3
        let a = PPOTrainer(initial: .initial(), settings: s)
        _ = a.train(data)
        let b = PPOTrainer(initial: .initial(), settings: s)
        _ = b.train(data)
        s.seed = 10
        let c = PPOTrainer(initial: .initial(), settings: s)
        _ = c.train(data)
        let wa = try a.weights(version: "x"), wb = try b.weights(version: "x"), wc = try c.weights(version: "x")
        #expect(wa.sha256 == wb.sha256)
        #expect(wa.sha256 != wc.sha256)
        // And through the whole job: same sample, same split, same weights.
        let buffer = FieldReportReplayBuffer(capacity: 10_000)
        buffer.extend(Bandit.reports(120, best: PPOTests.best), now: Date().timeIntervalSince1970)
        var settings = s
        settings.sampleSize = 80
        settings.holdoutFraction = 0.25
        let job = SimicJob(id: "job-a", settings: settings, createdAt: "")
        let r1 = try SimicJobRunner.run(job, buffer: buffer, initial: .initial(), publisher: nil, telemetry: { _ in })
        let r2 = try SimicJobRunner.run(job, buffer: buffer, initial: .initial(), publisher: nil, telemetry: { _ in })
        #expect(r1.weightsSha256 == r2.weightsSha256 && r1.trainingReports == 60 && r1.holdoutReports == 20)
    }

    @Test func nothingToLearnFromLeavesTheWeightsAlone() throws {
        let trainer = PPOTrainer(initial: .initial(), settings: PPOTests.settings())
        #expect(trainer.train([]).isEmpty)
        #expect(try trainer.weights(version: "policy-init").sha256 == PolicyWeights.initial().sha256)
    }
}

/// Behaviour cloning before PPO reproduces a deterministic behaviour policy's choices.
@Suite struct CloningTests {
    @Test func cloningImitatesTheLoggedActions() throws {
        // The behaviour always takes optimizer in context 0 and germinate in context 1; every
        // outcome is neutral, so only the cloning passes have something to say.
        let reports = Bandit.reports(200, best: [.optimizer, .germinate]).map { report -> FieldReport in
            var r = report
            let context = Int(r.trajectory[0].features[0])
            r.trajectory[0].action = UInt32(context == 0 ? PolicyAction.optimizer.rawValue : PolicyAction.germinate.rawValue)
            r.trajectory[0].logits = []
            r.metrics = ["loss_delta": 0]
            r.outcome = .neutral
            return r
        }
        let buffer = FieldReportReplayBuffer(capacity: 1000)
        buffer.extend(reports, now: Date().timeIntervalSince1970)
        var s = PPOTests.settings()
        s.updates = 1
        s.cloningEpochs = 20
        let trainer = PPOTrainer(initial: .initial(), settings: s)
        let history = trainer.train(buffer.all)
        let weights = try trainer.weights(version: "cloned")
        #expect(Bandit.decision(weights, context: 0) == .optimizer && Bandit.decision(weights, context: 1) == .germinate)
        #expect((history.first?.cloningLoss ?? 9) < 0.3)
    }
}

/// LoRA: adapters only, base frozen, merged into the one weight format.
@Suite struct LoRATests {
    @Test func adaptersLearnTheBanditWithTheBaseFrozen() throws {
        var s = PPOTests.settings()
        s.loraRank = 4
        s.loraAlpha = 8
        s.learningRate = 1e-2
        let initial = PolicyWeights.initial()
        let trainer = PPOTrainer(initial: initial, settings: s)
        #expect(trainer.adapterNames.count == 8 && trainer.adapterNames.allSatisfy { $0.contains("lora") })
        // B starts at zero: the adapted network is the deployed one.
        #expect(try trainer.weights(version: "policy-init") == initial)
        _ = trainer.train(PPOTests.experiences(400))
        let trained = try trainer.weights(version: "lora")
        let after = Bandit.expectedReward(trained, best: PPOTests.best)
        #expect(after > 0.5, "expected reward with LoRA \(after)")
        for frozen in [
            "stage_embedding", "blueprint_embedding", "trunk.0.bias", "trunk.1.bias", "action.bias", "param.weight", "slot.weight",
        ] {
            #expect(trained.tensor(frozen) == initial.tensor(frozen), "\(frozen)")
        }
        #expect(trained.tensor("trunk.0.weight") != initial.tensor("trunk.0.weight"))
        // The merged weights compute what the trainer computes.
        let steps = PPOTrainer.trajectories(PPOTests.experiences(8), config: initial.config).flatMap { $0 }
        let batch = trainer.forward(steps)
        let network = PolicyNetwork(weights: trained)
        // Merged (W + s·BA)x and unmerged Wx + s·B(Ax) round differently, and the trained logits
        // are large (a GEMM with another summation order was 1.2e-4 off): relative tolerance.
        func close(_ a: Float, _ b: Float) -> Bool { abs(a - b) <= 1e-4 * max(1, abs(b)) }
        for (r, step) in steps.enumerated() {
            let out = network.evaluate(PolicyInput(features: step.features, stageIndex: 0, blueprintIndex: 0, slots: [], blueprints: []))
            for j in 0..<PolicyAction.allCases.count {
                let want = batch.logits[r * PolicyAction.allCases.count + j]
                #expect(close(out.actionLogits[j], want), "logit \(j): \(out.actionLogits[j]) vs \(want)")
            }
            #expect(close(out.value, batch.values[r]))
        }
    }
}
