import EsperTestSupport
import Foundation
import Leyline
import Logging
import Simic
import Synchronization
import TamiyoNetwork
import Testing

/// A remote worker's outcome (`PolicyJobRecord`) applied by the server's Simic: the server's
/// publisher numbers, stores and announces the policy once, whatever is delivered twice; a
/// candidate whose bytes are not the result's is never published.
@Suite struct RemoteOutcomeTests {
    @Test func aWorkersOutcomeIsPublishedOnceAndATamperedCandidateFailsTheJob() throws {
        let dir = TemporaryDirectory("simic-remote")
        let announced = Mutex<[String]>([])
        var logger = Logger(label: "simic-test")
        logger.logLevel = .critical
        let service = try SimicService(
            settings: SimicSettings(directory: dir.path + "/simic"), bus: nil, logger: logger, initialPolicy: { .initial() },
            reportSource: { [] }, announce: { update in announced.withLock { $0.append(update.tamiyoPolicyVersion) } },
            dispatch: { _ in })
        var settings = SimicTrainingSettings()
        settings.updates = 2
        settings.validation.minAverageReward = -10
        let job = try service.submit(settings)
        let other = try service.submit(settings)

        // The worker's side: its own buffer, the same runner.
        let buffer = FieldReportReplayBuffer()
        buffer.extend(Bandit.reports(60, best: [.optimizer, .germinate]), now: Date().timeIntervalSince1970)
        let (result, candidate) = try SimicJobRunner.train(job, buffer: buffer, initial: .initial()) { _ in }
        #expect(result.validation.passed && !result.published)

        try service.apply(PolicyJobRecord(policyJob: job.id, state: .running, worker: "w-1"))
        #expect(try service.job(job.id)?.state == .running)
        let outcome = PolicyJobRecord(policyJob: job.id, state: .succeeded, worker: "w-1", result: result, weights: candidate)
        try service.apply(outcome)
        try service.apply(outcome)  // delivered twice
        let done = try #require(try service.job(job.id))
        #expect(done.state == .succeeded && done.result?.policyVersion == "simic-v1" && done.result?.announced == true)
        #expect(announced.withLock { $0 } == ["simic-v1"])
        #expect(try service.publisher.load("simic-v1").sha256 == candidate.sha256)

        // Other weights than the result names: the job fails, nothing is published.
        let tampered = PolicyJobRecord(
            policyJob: other.id, state: .succeeded, worker: "w-2", result: result, weights: .initial(seed: 9, policyVersion: "x"))
        try service.apply(tampered)
        let failed = try #require(try service.job(other.id))
        #expect(failed.state == .failed && failed.error?.contains("checksum") == true)
        #expect(announced.withLock { $0 }.count == 1)
    }
}
