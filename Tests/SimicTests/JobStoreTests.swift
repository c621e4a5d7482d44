import EsperTestSupport
import Foundation
import Leyline
import Logging
import Simic
import TamiyoNetwork
import Testing

/// Job state lives in SQLite: a queued job survives a restart and runs; one a restart
/// interrupted is marked failed, never left "running".
@Suite struct JobStoreTests {
    static func service(_ dir: TemporaryDirectory, reports: [FieldReport]) throws -> SimicService {
        var logger = Logger(label: "simic-test")
        logger.logLevel = .critical
        return try SimicService(
            settings: SimicSettings(directory: dir.path + "/simic"), bus: nil, logger: logger, initialPolicy: { .initial() },
            reportSource: { reports }, announce: { _ in })
    }

    @Test func queuedJobsSurviveARestartAndInterruptedOnesFail() throws {
        let dir = TemporaryDirectory("simic-jobs")
        let reports = Bandit.reports(60, best: [.optimizer, .germinate])
        var settings = SimicTrainingSettings()
        settings.updates = 2
        settings.validation.minAverageReward = -10
        let (queuedId, interruptedId): (String, String)
        do {
            // Never started: the job stays queued in SQLite.
            let service = try JobStoreTests.service(dir, reports: reports)
            queuedId = try service.submit(settings).id
            var interrupted = try service.submit(settings)
            interruptedId = interrupted.id
            interrupted.state = .running
            try service.store.save(interrupted)
        }
        let service = try JobStoreTests.service(dir, reports: reports)
        service.start()
        defer { service.stop() }
        #expect(eventually(within: 30) { (try? service.job(queuedId))??.state == .succeeded })
        let interrupted = try #require(try service.job(interruptedId))
        #expect(interrupted.state == .failed && interrupted.error == "interrupted by a restart")
        let done = try #require(try service.job(queuedId))
        #expect(done.result?.policyVersion == "simic-v1" && done.result?.trainingReports == 48 && done.result?.holdoutReports == 12)
        #expect(service.buffer.count == 60)
        #expect(throws: (any Error).self) {
            var bad = SimicTrainingSettings()
            bad.learningRate = -1
            _ = try service.submit(bad)
        }
    }
}
