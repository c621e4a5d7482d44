import EsperTestSupport
import Foundation
import Kasmina
import Leyline
import Testing
import Tolaria

@testable import Tamiyo

/// A policy that never proposes anything: whatever a run issues comes from the risk engine.
final class WaitingPolicy: TamiyoPolicy {
    var name: String { "waiting" }
    var version: String { "waiting-1" }
    func decide(_ observation: PolicyObservation) -> PolicyDecision {
        PolicyDecision(.wait, action: .wait, rationale: "test: always wait")
    }
}

/// The risk engine of 03-tamiyo §9: weighted dimensions → score → level with hysteresis,
/// adaptive thresholds, the pause quota, the G2 drift gate and the α bands.
@Suite struct RiskLevelTests {
    /// Signals giving each dimension exactly risk `r` (the base thresholds' linear shape).
    static func signals(_ r: [RiskDimension: Double]) -> RiskSignals {
        var values: [RiskDimension: Double] = [:]
        for (dimension, risk) in r {
            let c = dimension.calibration
            values[dimension] = c.threshold + risk * (c.emergency - c.threshold)
        }
        return RiskSignals(values)
    }

    /// Every dimension at risk r: the score is r (weights sum to 1).
    static func uniform(_ r: Double) -> RiskSignals {
        signals(Dictionary(uniqueKeysWithValues: RiskDimension.allCases.map { ($0, r) }))
    }

    @Test func theWeightsSumToOneAndTheShapeIsTheSpecs() {
        #expect(abs(RiskDimension.allCases.reduce(0) { $0 + $1.calibration.weight } - 1) < 1e-12)
        let assessor = RiskAssessor()
        #expect(assessor.risk(.gradientHealth, 4) == 0)
        #expect(assessor.risk(.gradientHealth, 12.5) == 0.5)
        #expect(assessor.risk(.gradientHealth, 50) == 1)
        #expect(assessor.risk(.gradientHealth, .nan) == 1, "a NaN gradient norm is the worst gradient health")
    }

    @Test func theLevelClimbsOnlyAfterTheWindowsAndComesBackOneStepAtATime() {
        var a = RiskAssessor(escalationWindows: 2, recoveryWindows: 2)
        var levels: [RiskLevel] = []
        let scores = [0.0, 0.2, 0.0, 0.2, 0.2, 0.4, 0.4, 0.6, 0.6, 0.6, 0.6, 0.12, 0.12, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        for (epoch, score) in scores.enumerated() {
            levels.append(a.assess(RiskLevelTests.uniform(score), epoch: epoch, validationLoss: 1).level)
        }
        #expect(
            levels == [
                .green, .green,  // one boundary at 0.2 is not enough…
                .green, .green, .yellow,  // …two in a row are
                .yellow, .orange, .orange, .red, .red, .red,
                .red, .orange,  // down one step after two boundaries below RED's floor − margin
                .orange, .yellow, .yellow, .green, .green, .green, .green, .green,
            ])
    }

    @Test func aScoreHoveringAtAFloorDoesNotFlap() {
        var a = RiskAssessor(escalationWindows: 1, recoveryWindows: 1)
        #expect(a.assess(RiskLevelTests.uniform(0.16), epoch: 0, validationLoss: 1).level == .yellow)
        // Just below the floor (0.15) but within the 0.05 margin: YELLOW holds.
        for epoch in 1...5 { #expect(a.assess(RiskLevelTests.uniform(0.12), epoch: epoch, validationLoss: 1).level == .yellow) }
        #expect(a.assess(RiskLevelTests.uniform(0.05), epoch: 6, validationLoss: 1).level == .green)
    }

    @Test func threeDimensionsInEmergencyAreCriticalAtOnce() {
        var a = RiskAssessor(escalationWindows: 3, recoveryWindows: 3)
        let report = a.assess(
            RiskLevelTests.signals([.seedCount: 0.9, .isolation: 0.9, .latency: 0.9]), epoch: 0, validationLoss: 1)
        #expect(report.score < 0.35 && report.rawLevel == .critical && report.level == .critical)
        #expect(report.leadingDimension == "isolation", "the largest weighted contribution")
        #expect(report.transition?.contains("GREEN → CRITICAL") == true)
    }

    @Test func thresholdsAdaptToStabilityWithinTheirBounds() {
        var stable = RiskAssessor()
        let calm = RiskSignals([.gradientHealth: 0.5], accuracyDelta: 0.1)
        for epoch in 0..<9 { _ = stable.assess(calm, epoch: epoch, validationLoss: 0.3) }
        #expect(stable.thresholds[.gradientHealth] == 5.0, "not before the 10th boundary")
        _ = stable.assess(calm, epoch: 9, validationLoss: 0.3)
        #expect(abs(stable.thresholds[.gradientHealth]! - 6.0) < 1e-9, "stable: loosened by the adaptive factor 1.2")
        for epoch in 10..<200 { _ = stable.assess(calm, epoch: epoch, validationLoss: 0.3) }
        #expect(stable.thresholds[.gradientHealth] == 10.0, "clamped at 2× base")
        #expect(stable.thresholds[.isolation] == 0.5, "a factor of 1 never moves")

        var unstable = RiskAssessor()
        for epoch in 0..<10 {
            _ = unstable.assess(RiskSignals([.gradientHealth: 50]), epoch: epoch, validationLoss: epoch % 2 == 0 ? 0.1 : 3)
        }
        #expect(abs(unstable.thresholds[.gradientHealth]! - 4.75) < 1e-9, "unstable: tightened by 5 %")
    }

    @Test func thePauseQuotaResetsEveryBoundary() {
        var a = RiskAssessor(pauseQuota: 1)
        _ = a.assess(RiskLevelTests.uniform(0), epoch: 0, validationLoss: 1)
        let first = a.takePause(), second = a.takePause()
        #expect(first && !second)
        _ = a.assess(RiskLevelTests.uniform(0), epoch: 1, validationLoss: 1)
        let afterReset = a.takePause()
        #expect(afterReset)
    }

    @Test func alphaBandsMoveOnlyPastTheHysteresis() {
        var a = RiskAssessor()
        var bands: [Int] = []
        let alphas: [Float] = [0.1, 0.31, 0.33, 0.29, 0.27, 0.69, 0.71, 0.73, 0.69, 0.67]
        for alpha in alphas { bands.append(a.alphaBand(seed: "s", alpha: alpha)) }
        #expect(bands == [0, 0, 1, 1, 0, 1, 1, 2, 2, 1])
    }

    static func germinate(_ blueprint: String) -> AdaptationCommand {
        AdaptationCommand(
            commandId: "g", commandType: .seed, targetSeedId: "seed-0-0", issuedBy: "tamiyo",
            payload: .seedOperation(CommandSeedOperation(operation: .germinate, blueprintId: blueprint)))
    }

    static func report(_ level: RiskLevel, leading: RiskDimension = .gradientHealth) -> RiskReport {
        RiskReport(
            epoch: 3, level: level, levelName: level.name, rawLevel: level, score: level.floor, leadingDimension: leading.rawValue,
            dimensions: [], pendingEscalation: 0, pendingRecovery: 0, transition: nil)
    }

    static func info(_ id: String, tier: BlueprintTier) -> BlueprintInfo {
        BlueprintInfo(
            blueprintId: id, name: id, tier: tier, risk: 0.3, stage: 1, quarantineOnly: false, approvalRequired: false,
            description: id, available: true, seedWidth: 16, kind: "linear", residual: false)
    }

    @Test func eachLevelChangesDecisionsAndNamesTheDimension() {
        let engine = RiskEngine()
        let lookup: (String) -> BlueprintInfo? = { id in
            id == "BP002" ? RiskLevelTests.info(id, tier: .safe) : RiskLevelTests.info(id, tier: .experimental)
        }
        func review(_ command: AdaptationCommand?, _ level: RiskLevel, drift: Double? = nil) -> RiskEngine.Verdict {
            engine.review(
                command, lossDelta: 0, hasPreviousLoss: true, conservative: false, settings: SeedSettings(), blueprint: lookup,
                quarantined: { _ in nil }, assessment: RiskLevelTests.report(level), seedDrift: { _ in drift })
        }
        // GREEN: nothing changes.
        #expect(review(RiskLevelTests.germinate("BP030"), .green).command?.commandType == .seed)
        // YELLOW: only SAFE blueprints germinate.
        let yellow = review(RiskLevelTests.germinate("BP030"), .yellow)
        #expect(yellow.command?.commandType == .pause && yellow.riskReason == "risk_level")
        #expect(yellow.command?.annotations["risk_dimension"] == "gradient_health" && yellow.command?.annotations["risk_level"] == "YELLOW")
        #expect(review(RiskLevelTests.germinate("BP002"), .yellow).command?.commandType == .seed)
        // ORANGE: no germination at all; a cull passes.
        #expect(review(RiskLevelTests.germinate("BP002"), .orange).command?.commandType == .pause)
        let cull = AdaptationCommand(
            commandId: "c", commandType: .seed, targetSeedId: "s", issuedBy: "tamiyo",
            payload: .seedOperation(CommandSeedOperation(operation: .cull)))
        #expect(review(cull, .orange).command == cull && review(cull, .red).command == cull)
        // RED and CRITICAL: every live seed paused even when the policy proposed nothing.
        for level in [RiskLevel.red, .critical] {
            let verdict = review(nil, level)
            #expect(verdict.command?.commandType == .pause && verdict.command?.targetSeedId == "")
            #expect(verdict.command?.annotations["risk_dimension"] == "gradient_health")
        }
        // G2: leaving the ramp with a drift of 0.2 is refused, naming the drift.
        let stabilize = AdaptationCommand(
            commandId: "s", commandType: .seed, targetSeedId: "seed-0-0", issuedBy: "tamiyo",
            payload: .seedOperation(CommandSeedOperation(operation: .stabilize)))
        let g2 = review(stabilize, .green, drift: 0.2)
        #expect(g2.riskReason == "g2_drift" && g2.command?.annotations["risk_dimension"] == "drift")
        #expect(g2.events.first?.description == "g2_refused")
        #expect(review(stabilize, .green, drift: 0.05).command == stabilize)
    }

    /// A real run (two moons, a policy that only waits) with instability injected into its
    /// measured signals from epoch 2 to 9: the level climbs GREEN → … → CRITICAL, the engine
    /// pauses the run's seeds at RED and above naming the dimension, and once the injection
    /// stops the level steps back down to GREEN one level per recovery window.
    @Test func injectedInstabilityMovesARunThroughTheLevelsAndBack() throws {
        let fixture = try ControlFixture { settings in
            settings.riskEscalationWindows = 2
            settings.riskRecoveryWindows = 2
            settings.latencyTriggers = false
        }
        let config = ControlFixture.moons(epochs: 22)
        // The seeds' gradient norm explodes (score 0.20: YELLOW), the loss climbs (0.45: ORANGE),
        // the drift follows (0.555: RED), then all three are in emergency (CRITICAL).
        let injected: [Int: (gradient: Double, loss: Double, drift: Double)] = [
            2: (20, 0, 0), 3: (20, 0, 0), 4: (20, 0.5, 0), 5: (20, 0.5, 0), 6: (20, 0.5, 0.386), 7: (20, 0.5, 0.386),
            8: (30, 0.6, 0.6), 9: (30, 0.6, 0.6), 10: (30, 0.6, 0.6),
        ]
        let run = try fixture.run(config, policy: WaitingPolicy()) { controller in
            controller.injectRiskSignals = { signals, epoch in
                guard let fault = injected[epoch] else { return }
                signals.values[.gradientHealth] = fault.gradient
                signals.values[.lossTrend] = fault.loss
                signals.values[.drift] = fault.drift
            }
        }
        #expect(run.outcome == .completed)
        let levels = run.controller.riskHistory.map(\.level)
        #expect(levels.first == .green && levels.last == .green)
        // Through every state, in order, and back down in order.
        var visited: [RiskLevel] = []
        for level in levels where visited.last != level { visited.append(level) }
        #expect(visited == [.green, .yellow, .orange, .red, .critical, .red, .orange, .yellow, .green], "\(levels)")
        // Hysteresis: each step up waited for a second boundary; each step down took two.
        #expect(Array(levels[0..<9]) == [.green, .green, .green, .yellow, .yellow, .orange, .orange, .red, .critical])
        #expect(Array(levels[11..<18]) == [.critical, .red, .red, .orange, .orange, .yellow, .yellow], "one step per two boundaries")
        // The engine's pauses (RED and above) name the dimension that drove them; the policy issued nothing.
        let pauses = run.controller.commands.filter { $0.annotations["risk_reason"] == "risk_level" }
        #expect(pauses.count == levels.count { $0 >= .red })
        #expect(pauses.allSatisfy { $0.commandType == .pause && $0.targetSeedId == "" })
        #expect(pauses.first?.annotations["risk_dimension"] == "loss_trend" && pauses.first?.annotations["risk_level"] == "RED")
        #expect(run.controller.commands.count == pauses.count)
        #expect(fixture.service.riskReport(runId: run.controller.runId)?.level == .green)
        #expect(fixture.service.policyInfo.risk.runs.first?.assessment.dimensions.count == RiskDimension.allCases.count)
        #expect(fixture.service.mode.isConservative, "CRITICAL switched the service to conservative mode")
    }
}
