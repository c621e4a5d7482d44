import Foundation
import Leyline
import Simic
import TamiyoNetwork

/// Field reports of a contextual bandit: two contexts (feature 0 = 0 or 1); in context c the
/// action `best[c]` earns +1 and every other legal action −1 (as `loss_delta` = −reward).
/// The behaviour policy is uniform (zero logits) over the legal actions, seeded.
enum Bandit {
    static let legal: [PolicyAction] = [.wait, .germinate, .optimizer, .pause]
    static var mask: UInt32 { legal.reduce(UInt32(0)) { $0 | 1 << UInt32($1.rawValue) } }

    static func features(_ context: Int) -> [Float] {
        var f = [Float](repeating: 0, count: PolicyNetworkConfig().featureDim)
        f[0] = Float(context)
        f[1] = 0.5
        return f
    }

    static func reward(context: Int, action: PolicyAction, best: [PolicyAction]) -> Double { action == best[context] ? 1 : -1 }

    static func reports(_ n: Int, best: [PolicyAction], seed: UInt64 = 7, run: String = "bandit") -> [FieldReport] {
        var state = seed &* 6_364_136_223_846_793_005 &+ 1
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<n).map { i in
            let context = next(2)
            let action = legal[next(legal.count)]
            let reward = reward(context: context, action: action, best: best)
            let step = PolicyStep(
                epoch: UInt32(i), action: UInt32(action.rawValue), validActions: mask, features: features(context),
                logits: [Float](repeating: 0, count: PolicyAction.allCases.count))
            return FieldReport(
                reportId: "fr-\(run)-\(i)", commandId: "cmd-\(i)", trainingRunId: run, seedId: "seed-\(i)", blueprintId: "BP001",
                outcome: reward > 0 ? .success : .neutral, metrics: ["loss_delta": Float(-reward)], observationWindowEpochs: 1,
                issuedAt: .now(), tamiyoPolicyVersion: "policy-init", trajectory: [step])
        }
    }

    /// The policy's expected reward: softmax over the legal actions, both contexts equally likely.
    static func expectedReward(_ weights: PolicyWeights, best: [PolicyAction]) -> Double {
        let network = PolicyNetwork(weights: weights)
        var total = 0.0
        for context in 0..<2 {
            let out = network.evaluate(
                PolicyInput(features: features(context), stageIndex: 0, blueprintIndex: 0, slots: [], blueprints: []))
            let logits = legal.map { Double(out.actionLogits[$0.rawValue]) }
            let top = logits.max()!
            let exps = logits.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            for (i, action) in legal.enumerated() { total += 0.5 * exps[i] / sum * reward(context: context, action: action, best: best) }
        }
        return total
    }

    /// The argmax over legal actions in a context.
    static func decision(_ weights: PolicyWeights, context: Int) -> PolicyAction {
        let out = PolicyNetwork(weights: weights).evaluate(
            PolicyInput(features: features(context), stageIndex: 0, blueprintIndex: 0, slots: [], blueprints: []))
        return PolicyAction(rawValue: maskedArgmax(out.actionLogits) { mask & (1 << UInt32($0)) != 0 }!)!
    }
}
