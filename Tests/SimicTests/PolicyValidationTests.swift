import EsperStorage
import EsperTestSupport
import Foundation
import Leyline
import Simic
import TamiyoNetwork
import Testing

/// The validation harness gates publication; what passes is stored checksummed and announced once.
@Suite struct PolicyValidationTests {
    @Test func everyThresholdAddsItsReasonInOrder() {
        let bad = PolicyEvaluation(
            averageReward: -1, policyLoss: 9, valueLoss: 99, paramLoss: 9, policyEntropy: -1, reports: 1, steps: 1)
        var t = ValidationThresholds()
        t.minEntropy = 0
        let result = PolicyValidator.validate(bad, thresholds: t, trainingReports: 5)
        #expect(!result.passed && result.reasons.count == 5)
        #expect(result.reasons[0] == "average_reward -1.0000 below min 0.0000")
        let good = PolicyEvaluation(averageReward: 0.5, policyLoss: 0.1, valueLoss: 1, paramLoss: 0, policyEntropy: 1, reports: 1, steps: 1)
        #expect(PolicyValidator.validate(good, thresholds: t, trainingReports: 5).passed)
        #expect(PolicyValidator.validate(good, thresholds: t, trainingReports: 0).reasons == ["training_reports 0 below min 1"])
    }

    @Test func aFailingPolicyIsNeverPublishedAndSaysWhy() throws {
        let dir = TemporaryDirectory("simic-validation")
        let store = try SimicStore(path: dir.path + "/simic.db")
        let announced = AnnounceLog()
        let publisher = try PolicyPublisher(directory: dir.path + "/policies", store: store, announce: { announced.append($0) })
        let buffer = FieldReportReplayBuffer()
        buffer.extend(Bandit.reports(40, best: [.optimizer, .germinate]), now: Date().timeIntervalSince1970)
        var settings = SimicTrainingSettings()
        settings.updates = 2
        settings.validation.minAverageReward = 100
        var packets: [TelemetryPacket] = []
        let result = try SimicJobRunner.run(
            SimicJob(id: "job-fail", settings: settings, createdAt: ""), buffer: buffer, initial: .initial(), publisher: publisher,
            telemetry: { packets.append($0) })
        #expect(!result.validation.passed && !result.published && result.policyVersion == nil)
        #expect(result.validation.reasons.first?.hasPrefix("average_reward") == true)
        #expect(try store.policies(after: 0, limit: 10).items.isEmpty)
        #expect(announced.count == 0)
        #expect((try FileManager.default.contentsOfDirectory(atPath: dir.path + "/policies")).isEmpty)
        let failure = packets.flatMap(\.events).first { $0.description == "Simic policy validation failed" }
        #expect(failure?.level == .warning && failure?.attributes["reasons"]?.contains("average_reward") == true)
        #expect(packets.flatMap(\.metrics).contains { $0.name == "simic.validation.pass" && $0.value == 0 })
        #expect(packets.flatMap(\.metrics).contains { $0.name == "simic.training.reward" })
        #expect(packets.flatMap(\.metrics).contains { $0.name == "simic.training.loss" })

        // The same data with the default thresholds passes, is stored and announced once.
        settings.validation = ValidationThresholds()
        settings.validation.minAverageReward = -10
        let ok = try SimicJobRunner.run(
            SimicJob(id: "job-ok", settings: settings, createdAt: ""), buffer: buffer, initial: .initial(), publisher: publisher,
            telemetry: { packets.append($0) })
        #expect(ok.validation.passed && ok.published && ok.announced && ok.policyVersion == "simic-v1")
        #expect(announced.count == 1 && announced.first?.tamiyoPolicyVersion == "simic-v1")
        let stored = try publisher.load("simic-v1")
        #expect(stored.sha256 == ok.weightsSha256 && stored.policyVersion == "simic-v1")
        #expect(try PolicyWeights(decoding: announced.first!.payload.bytes) == stored)
        let page = try store.policies(after: 0, limit: 10)
        #expect(page.items.map(\.version) == ["simic-v1"] && page.items[0].announced)
    }
}

final class AnnounceLog: @unchecked Sendable {
    private let lock = NSLock()
    private var updates: [PolicyUpdate] = []
    func append(_ update: PolicyUpdate) { lock.withLock { updates.append(update) } }
    var count: Int { lock.withLock { updates.count } }
    var first: PolicyUpdate? { lock.withLock { updates.first } }
}

/// A policy whose choices the data never made is not vouched for.
@Suite struct SupportTests {
    @Test func choicesOutsideTheLoggedActionsFailValidation() throws {
        let buffer = FieldReportReplayBuffer()
        buffer.extend(Bandit.reports(40, best: [.optimizer, .germinate]), now: Date().timeIntervalSince1970)
        let trainer = PPOTrainer(initial: .initial(), settings: SimicTrainingSettings())
        let all = PPOTrainer.loggedActions(buffer.all)
        #expect(all == Set(Bandit.legal.map(\.rawValue)))
        let inSupport = trainer.evaluate(buffer.all, against: .initial(), supported: all)
        #expect(inSupport.outOfSupport == 0)
        let outside = trainer.evaluate(buffer.all, against: .initial(), supported: [PolicyAction.advance.rawValue])
        #expect(outside.outOfSupport == 1)
        let result = PolicyValidator.validate(outside, thresholds: ValidationThresholds(), trainingReports: 40)
        #expect(result.reasons.contains("out_of_support 1.0000 above max 0.5000"))
    }
}

/// A policy that favours actions the data took rarely is not vouched for either (the published
/// width-growth policy raised the learning rate at almost every boundary).
@Suite struct RareActionTests {
    @Test func choicesTheDataRarelyMadeFailValidation() throws {
        let buffer = FieldReportReplayBuffer()
        buffer.extend(Bandit.reports(40, best: [.optimizer, .germinate]), now: Date().timeIntervalSince1970)
        let trainer = PPOTrainer(initial: .initial(), settings: SimicTrainingSettings())
        let all = PPOTrainer.loggedActions(buffer.all)
        let shares = PPOTrainer.actionShares(buffer.all)
        #expect(abs(shares.values.reduce(0, +) - 1) < 1e-9 && Set(shares.keys) == all)
        // Uniform behaviour over four actions: none is rare.
        #expect(shares.values.allSatisfy { $0 > 0.1 })
        let common = trainer.evaluate(buffer.all, against: .initial(), supported: all, shares: shares)
        #expect(common.rareActions == 0)
        // (The bandit's uniform data have a negative mean reward: not what this test is about.)
        var thresholds = ValidationThresholds()
        thresholds.minAverageReward = -1
        #expect(PolicyValidator.validate(common, thresholds: thresholds, trainingReports: 40).passed)
        // Every action taken in 1 % of the decisions: every choice is rare.
        let rare = trainer.evaluate(buffer.all, against: .initial(), supported: all, shares: shares.mapValues { _ in 0.01 })
        #expect(rare.rareActions == 1 && rare.outOfSupport == 0)
        let result = PolicyValidator.validate(rare, thresholds: thresholds, trainingReports: 40)
        #expect(result.reasons == ["rare_actions 1.0000 above max 0.2500"])
        // The thresholds are the job's.
        thresholds.maxRareActions = 1
        #expect(PolicyValidator.validate(rare, thresholds: thresholds, trainingReports: 40).passed)
    }

    @Test func rareActionThresholdsAreChecked() throws {
        var settings = SimicTrainingSettings()
        settings.validation.rareActionShare = 2
        settings.validation.maxRareActions = .nan
        #expect(Set(settings.problems().map(\.field)) == ["validation.rare_action_share", "validation.max_rare_actions"])
        #expect(SimicTrainingSettings().cloningEpochs == 100)
    }
}

/// A policy trained on nothing is never published, whatever the thresholds say.
@Suite struct NothingLearnedTests {
    @Test func aJobWithoutReportsIsRejectedEvenWithMinReportsZero() throws {
        let dir = TemporaryDirectory("simic-nothing")
        let store = try SimicStore(path: dir.path + "/simic.db")
        let announced = AnnounceLog()
        let publisher = try PolicyPublisher(directory: dir.path + "/policies", store: store, announce: { announced.append($0) })
        var settings = SimicTrainingSettings()
        settings.updates = 2
        settings.validation.minReports = 0
        settings.validation.minAverageReward = -1000
        let result = try SimicJobRunner.run(
            SimicJob(id: "job-empty", settings: settings, createdAt: ""), buffer: FieldReportReplayBuffer(), initial: .initial(),
            publisher: publisher, telemetry: { _ in })
        #expect(!result.validation.passed && !result.published && result.trainingReports == 0)
        #expect(
            result.validation.reasons.contains("no training reports: the policy was trained on nothing"), "\(result.validation.reasons)")
        #expect(result.validation.reasons.contains { $0.hasPrefix("the trained weights equal the policy in force (policy-init)") })
        #expect(announced.count == 0)
        #expect(try store.policies(after: 0, limit: 10).items.isEmpty)
    }
}
