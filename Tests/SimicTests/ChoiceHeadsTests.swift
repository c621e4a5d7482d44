import Foundation
import Leyline
import TamiyoNetwork
import Testing

@testable import Simic

/// Issue 17 item 6: PPO trains the slot and blueprint heads, not only the action. A bandit
/// over germinations: two slots, in each two candidates — one whose family the run measured as
/// paying (kept, gain per parameter), one whose family was culled — with embedding rows
/// swapped between contexts so only the measured-family metadata tells them apart. Choosing
/// slot 1 earns +0.5 (else −0.5), choosing the paying family +0.5 (else −0.5); the behaviour
/// choices are uniform.
@Suite struct ChoiceHeadsTests {
    static let config = PolicyNetworkConfig()

    static func slots() -> [[Float]] {
        [
            PolicyFeatures.slot(
                width: 16, open: true, embargoed: false, hasLiveSeed: false, fossils: 0, fossilParameters: 0, position: 0, slots: 2,
                allowed: true),
            PolicyFeatures.slot(
                width: 16, open: true, embargoed: false, hasLiveSeed: false, fossils: 2, fossilParameters: 900, position: 1, slots: 2,
                allowed: true),
        ]
    }

    static func candidate(paying: Bool, index: Int) -> (index: Int, features: [Float]) {
        var family = PolicyFeatures.FamilyOutcome()
        family.trials = 2
        if paying {
            family.fossilized = 2
            family.meanGainPerKiloparameter = 0.08
        } else {
            family.cullsSinceFossil = 2
        }
        return (index, PolicyFeatures.blueprint(risk: 0.1, tier: "BLUEPRINT_TIER_SAFE", stage: 1, parameters: 300, family: family))
    }

    /// Candidates per slot in context `context`: [paying?] in order, their slots and rows.
    static func candidates(context: Int) -> [(index: Int, features: [Float], slot: Int, paying: Bool)] {
        var list: [(index: Int, features: [Float], slot: Int, paying: Bool)] = []
        for slot in 0..<2 {
            for paying in context == 0 ? [true, false] : [false, true] {
                let row = paying == (context == 0) ? 10 : 20
                let c = candidate(paying: paying, index: row)
                list.append((c.index, c.features, slot, paying))
            }
        }
        return list
    }

    static func reports(_ n: Int) -> [FieldReport] {
        var state: UInt64 = 99
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        return (0..<n).map { i in
            let context = next(2)
            let list = candidates(context: context)
            let chosen = next(list.count)
            let reward = (list[chosen].slot == 1 ? 0.5 : -0.5) + (list[chosen].paying ? 0.5 : -0.5)
            var features = [Float](repeating: 0, count: config.featureDim)
            features[0] = 0.5
            var step = PolicyStep(
                epoch: 0, action: UInt32(PolicyAction.germinate.rawValue),
                validActions: 1 << UInt32(PolicyAction.wait.rawValue) | 1 << UInt32(PolicyAction.germinate.rawValue), features: features)
            step.slotFeatures = slots().flatMap { $0 }
            step.openSlots = 0b11
            step.chosenSlot = UInt32(list[chosen].slot + 1)
            step.candidateIndices = list.map { UInt32($0.index) }
            step.candidateSlots = list.map { UInt32($0.slot) }
            step.candidateFeatures = list.flatMap(\.features)
            step.chosenCandidate = UInt32(chosen + 1)
            return FieldReport(
                reportId: "fr-choice-\(i)", commandId: "cmd-\(i)", trainingRunId: "choice", seedId: "seed-\(i)", blueprintId: "BP052",
                outcome: reward > 0 ? .success : .neutral, metrics: ["loss_delta": Float(-reward)], observationWindowEpochs: 1,
                issuedAt: .now(), tamiyoPolicyVersion: "policy-init", trajectory: [step], family: "widening")
        }
    }

    /// P(slot 1) and, per slot, P(the paying candidate | slot) under `weights`, in `context`.
    static func probabilities(_ weights: PolicyWeights, context: Int) -> (slot1: Double, paying: [Double]) {
        let list = candidates(context: context)
        var features = [Float](repeating: 0, count: config.featureDim)
        features[0] = 0.5
        let out = PolicyNetwork(weights: weights).evaluate(
            PolicyInput(
                features: features, stageIndex: 0, blueprintIndex: 0, slots: slots(),
                blueprints: list.map { ($0.index, $0.features) }))
        func softmax(_ v: [Float]) -> [Double] {
            let top = v.max()!
            let e = v.map { exp(Double($0 - top)) }
            return e.map { $0 / e.reduce(0, +) }
        }
        let slot = softmax(out.slotScores)
        let paying = (0..<2).map { s -> Double in
            let indices = list.indices.filter { list[$0].slot == s }
            let p = softmax(indices.map { out.blueprintScores[$0] })
            return zip(indices, p).filter { list[$0.0].paying }.map(\.1).reduce(0, +)
        }
        return (slot[1], paying)
    }

    @Test func ppoMovesTheSlotAndBlueprintHeadsTowardTheRewardedChoices() throws {
        let reports = ChoiceHeadsTests.reports(400)
        // The choice survives the report's JSON round trip (what Simic reads off the log or the bus).
        let decoded = try LeylineCodec.decode(FieldReport.self, from: LeylineCodec.encodeWithJansson(reports[0]))
        #expect(decoded == reports[0] && decoded.trajectory[0].chosenCandidate > 0)
        let buffer = FieldReportReplayBuffer(capacity: 1000)
        buffer.extend(reports, now: Date().timeIntervalSince1970)
        #expect(PPOTrainer.trajectories(buffer.all, config: ChoiceHeadsTests.config).allSatisfy { $0[0].choice != nil })
        let initial = PolicyWeights.initial()
        var s = PPOTests.settings()
        s.updates = 20
        let trainer = PPOTrainer(initial: initial, settings: s)
        _ = trainer.train(buffer.all)
        let trained = try trainer.weights(version: "choice")
        #expect(trained.tensor("slot.score") != initial.tensor("slot.score"))
        #expect(trained.tensor("blueprint.meta.weight") != initial.tensor("blueprint.meta.weight"))
        for context in 0..<2 {
            let before = ChoiceHeadsTests.probabilities(initial, context: context)
            let after = ChoiceHeadsTests.probabilities(trained, context: context)
            #expect(after.slot1 > 0.8 && after.slot1 > before.slot1, "context \(context): P(slot 1) \(before.slot1) → \(after.slot1)")
            for slot in 0..<2 {
                #expect(
                    after.paying[slot] > 0.8 && after.paying[slot] > before.paying[slot],
                    "context \(context) slot \(slot): P(paying family) \(before.paying[slot]) → \(after.paying[slot])")
            }
        }
    }

    /// A step's choice fields are bounded like the rest of it (the bus and the REST input).
    @Test func outOfRangeChoicesAreRefused() {
        for bad in [#""chosen_slot":33"#, #""chosen_candidate":129"#, #""candidate_slots":[32]"#, #""slot_features":[1,"NaN"]"#] {
            let json =
                #"{"version":1,"report_id":"r","outcome":"FIELD_REPORT_OUTCOME_SUCCESS","trajectory":[{"action":1,"#
                + bad + "}]}"
            #expect(throws: LeylineDecodingError.self, "\(bad)") { try LeylineCodec.decode(FieldReport.self, from: Array(json.utf8)) }
        }
    }

    /// Steps recorded before the choice existed, or inconsistent ones, train the action only.
    @Test func incompleteChoicesAreIgnored() {
        var step = ChoiceHeadsTests.reports(1)[0].trajectory[0]
        #expect(PPOTrainer.choice(step, config: ChoiceHeadsTests.config) != nil)
        step.candidateSlots[Int(step.chosenCandidate) - 1] = step.chosenSlot == 1 ? 1 : 0
        #expect(PPOTrainer.choice(step, config: ChoiceHeadsTests.config) == nil, "the chosen candidate is not in the chosen slot")
        var old = ChoiceHeadsTests.reports(1)[0].trajectory[0]
        old.candidateFeatures.removeLast()
        #expect(PPOTrainer.choice(old, config: ChoiceHeadsTests.config) == nil)
    }
}
