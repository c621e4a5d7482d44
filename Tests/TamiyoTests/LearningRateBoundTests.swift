import Foundation
import Leyline
import Tamiyo
import Testing
import Tolaria

/// A policy that asks to double the host learning rate at every boundary — what the first
/// published Simic policy on width growth did (and ruined its runs).
final class RaiseLearningRatePolicy: TamiyoPolicy {
    let name = "raise-lr"
    let version = "test"
    var observed: [Float] = []
    func decide(_ observation: PolicyObservation) -> PolicyDecision {
        observed.append(observation.learningRate)
        return PolicyDecision(.optimizer(lrDelta: 1), action: .optimizer, rationale: "always raise")
    }
}

/// The risk engine's learning-rate bound and cooldown (beyond the spec).
@Suite struct LearningRateBoundTests {
    static func optimizer(_ delta: Float) -> AdaptationCommand {
        AdaptationCommand(
            commandId: "o", commandType: .optimizer, issuedBy: "tamiyo",
            payload: .optimizerAdjustment(CommandOptimizerAdjustment(hyperparameters: ["lr_delta": delta])))
    }

    static func review(_ delta: Float, current: Float, since: Int?, settings: SeedSettings = SeedSettings()) -> RiskEngine.Verdict {
        RiskEngine().review(
            optimizer(delta), lossDelta: 0, hasPreviousLoss: true, conservative: false, settings: settings,
            blueprint: { _ in nil }, quarantined: { _ in nil },
            learningRate: RiskEngine.LearningRateState(current: current, configured: 0.01, epochsSinceChange: since))
    }

    static func delta(_ verdict: RiskEngine.Verdict) -> Double? {
        if case .optimizerAdjustment(let adjustment)? = verdict.command?.payload {
            return adjustment.hyperparameters["lr_delta"].map(Double.init)
        }
        return nil
    }

    @Test func aChangeWithinTheBoundPasses() {
        let verdict = LearningRateBoundTests.review(0.5, current: 0.01, since: nil)
        #expect(!verdict.refused && verdict.riskReason == nil && verdict.events.isEmpty)
        #expect(LearningRateBoundTests.delta(verdict) == 0.5)
    }

    @Test func aChangePastTheBoundIsCutToIt() throws {
        // 0.08 × 2 = 0.16 > 0.01 × 10: cut to × 1.25.
        let up = LearningRateBoundTests.review(1, current: 0.08, since: 10)
        #expect(!up.refused && up.riskReason == "lr_bound" && up.command?.commandType == .optimizer)
        #expect(abs(try #require(LearningRateBoundTests.delta(up)) - 0.25) < 1e-6)
        #expect(up.command?.annotations["risk_reason"] == "lr_bound" && up.command?.annotations["original_lr_delta"] == "1.000000")
        #expect(up.events.map(\.description) == ["lr_bounded"] && up.events.first?.attributes["allowed_lr_delta"] == "0.2500")
        // 0.002 × 0.1 = 0.0002 < 0.001: cut to × 0.5.
        let down = LearningRateBoundTests.review(-0.9, current: 0.002, since: nil)
        #expect(abs(try #require(LearningRateBoundTests.delta(down)) + 0.5) < 1e-6 && down.riskReason == "lr_bound")
    }

    @Test func aChangeAtTheBoundOrTooSoonIsRefused() {
        let atBound = LearningRateBoundTests.review(0.5, current: 0.1, since: nil)
        #expect(atBound.refused && atBound.riskReason == "lr_bound" && atBound.events.map(\.description) == ["lr_refused"])
        #expect(atBound.command?.annotations["risk_reason"] == "lr_bound")
        // Lowering from the top bound is fine.
        #expect(!LearningRateBoundTests.review(-0.5, current: 0.1, since: nil).refused)
        let soon = LearningRateBoundTests.review(0.1, current: 0.01, since: 4)
        #expect(soon.refused && soon.riskReason == "lr_cooldown" && soon.events.first?.attributes["cooldown_epochs"] == "5")
        #expect(!LearningRateBoundTests.review(0.1, current: 0.01, since: 5).refused)
        // The run's own settings.
        var settings = SeedSettings()
        settings.learningRateCooldownEpochs = 0
        settings.maxLearningRateRatio = 2
        #expect(!LearningRateBoundTests.review(0.1, current: 0.01, since: 0, settings: settings).refused)
        #expect(LearningRateBoundTests.review(0.1, current: 0.02, since: 0, settings: settings).refused)
        // A loss spike still pauses (a pause is executed, not refused).
        let spike = RiskEngine(maxLossSpike: 0.15).review(
            LearningRateBoundTests.optimizer(1), lossDelta: 0.5, hasPreviousLoss: true, conservative: false, settings: SeedSettings(),
            blueprint: { _ in nil }, quarantined: { _ in nil },
            learningRate: RiskEngine.LearningRateState(current: 0.1, configured: 0.01, epochsSinceChange: nil))
        #expect(spike.command?.commandType == .pause && !spike.refused && spike.riskReason == "loss_spike")
    }

    @Test func aPolicyRaisingTheRateEveryEpochCannotLeaveTheBound() throws {
        let fixture = try ControlFixture()
        let policy = RaiseLearningRatePolicy()
        let config = ControlFixture.moons(epochs: 40)
        let run = try fixture.run(config, policy: policy)
        let configured = config.learningRate
        // Every boundary asked; one change per 5 epochs was executed, each at most to the bound.
        let executed = run.controller.commands.filter { $0.commandType == .optimizer && $0.annotations["executed"] == "true" }
        let refused = run.controller.commands.filter { $0.annotations["executed"] == "false" }
        #expect(run.controller.commands.count >= 35)
        // × 2, × 4, × 8, then cut to × 10; after that every request is refused.
        #expect(executed.count == 4, "\(executed.map { $0.annotations["epoch"] ?? "" })")
        #expect(executed.last?.annotations["risk_reason"] == "lr_bound")
        #expect(Set(refused.compactMap { $0.annotations["risk_reason"] }) == ["lr_cooldown", "lr_bound"])
        #expect(policy.observed.allSatisfy { $0 <= configured * 10 * 1.0001 })
        #expect(abs((policy.observed.last ?? 0) - configured * 10) < configured * 1e-3, "the rate reached the bound and stayed")
        #expect(run.sink.summaries.last.map { $0.validationAccuracy > 0.5 } ?? false)
    }
}
