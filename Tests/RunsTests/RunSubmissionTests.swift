import EsperJSON
import EsperTestSupport
import Foundation
import Logging
import Runs
import Synchronization
import Testing
import Tolaria

/// Submissions under concurrency: creates from many threads share durable commits
/// (`SQLiteGroupCommit`); every acknowledged run is recorded and enqueued exactly once, a
/// repeated idempotency key gives the first run whatever the timing, and the answer is the
/// record a later GET shows.
@Suite(.serialized) struct RunSubmissionTests {
    static let config = #"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 2, "learning_rate": 0.01}"#

    static func service(_ directory: TemporaryDirectory, _ jobs: RunRecordsTests.IdleQueue) throws -> RunService {
        try RunService(
            options: RunService.Options(directory: directory.path + "/tolaria", datasetsDirectory: directory.path + "/datasets"),
            logger: Logger(label: "test"), queue: jobs.queue)
    }

    @Test func concurrentCreatesAreAllRecordedOnceAndKeysNeverDouble() throws {
        let directory = TemporaryDirectory("esper-run-submissions")
        let jobs = try RunRecordsTests.IdleQueue()
        let service = try Self.service(directory, jobs)
        let config = try JSONValue.parse(Self.config)
        _ = try service.submit(config)  // the data set's shape learnt once, outside the race
        // 8 threads × 12 submissions: every third carries one of four keys, each key used by
        // all threads at about the same time.
        let threads = 8
        let perThread = 12
        let answers = Mutex<[(key: String?, record: RunRecord)]>([])
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for n in 0..<perThread {
                let key: String? = n % 3 == 0 ? "key-\(n / 3)" : nil
                do {
                    let record = try service.submit(config, idempotencyKey: key)
                    answers.withLock { $0.append((key, record)) }
                } catch {
                    failures.withLock { $0.append("thread \(thread): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let all = answers.withLock { $0 }
        #expect(all.count == threads * perThread)
        // One run per key, the same for every submission that carried it.
        let byKey = Dictionary(grouping: all.filter { $0.key != nil }, by: { $0.key! })
        #expect(byKey.count == 4)
        for (key, answers) in byKey {
            #expect(Set(answers.map(\.record.id)).count == 1, "key \(key) gave several runs")
        }
        let unkeyed = all.filter { $0.key == nil }.map(\.record.id)
        #expect(Set(unkeyed).count == unkeyed.count)
        // The registry holds exactly those runs (plus the first one), each once, and each
        // answer is what GET shows.
        let listed = try service.list(status: nil, limit: 500, cursor: nil).records
        let expected = Set(unkeyed).union(byKey.values.map { $0[0].record.id })
        #expect(listed.count == expected.count + 1)
        #expect(expected.isSubset(of: Set(listed.map(\.id))))
        for (_, record) in all {
            #expect(try service.runJSON(record.id) == JanssonEncoder().encode(record))
        }
        // Every created run is enqueued: its control says run.
        let controls = try jobs.queue.controls(runIds: Array(expected))
        #expect(controls.count == expected.count && controls.values.allSatisfy { $0 == .run })
    }

    @Test func aHistoryFromAnEpochOnWithChosenFieldsIsTheFullOneCutDown() throws {
        let directory = TemporaryDirectory("esper-run-history-select")
        let jobs = try RunRecordsTests.IdleQueue()
        let (service, id, summaries) = try RunRecordsTests.run(directory, jobs)
        try service.apply(RunJobRecord(kind: .started, runId: id, worker: "w"))
        for summary in summaries {
            try service.apply(RunJobRecord(kind: .epoch, runId: id, worker: "w", epoch: summary.epoch, summary: summary))
        }
        var spike = TrainingEvent(runId: id, epoch: 1, kind: .lossSpike, level: .warning, message: "early")
        spike.timestampNs = 5
        try service.apply(RunJobRecord(kind: .event, runId: id, worker: "w", epoch: 1, event: spike))
        var late = TrainingEvent(runId: id, epoch: 6, kind: .lossSpike, level: .warning, message: "late")
        late.timestampNs = 6
        try service.apply(RunJobRecord(kind: .event, runId: id, worker: "w", epoch: 6, event: late))
        let full = try #require(try service.metrics(id))

        // since: the epochs from 5 on and the events of those epochs, encoded as ever.
        var cut = full
        cut.epochs = full.epochs.filter { $0.epoch >= 5 }
        cut.events = full.events.filter { $0.epoch >= 5 }
        #expect(cut.epochs.count == summaries.count - 5 && cut.events.map(\.message) == ["late"])
        #expect(try service.metricsJSON(id, since: 5) == JanssonEncoder().encode(cut))
        #expect(try service.metricsJSON(id, since: 0) == JanssonEncoder().encode(full))

        // fields: each epoch with only those members (and epoch), values as stored.
        let document = try JSONValue.parse(try #require(try service.metricsJSON(id, since: 3, fields: ["train_loss", "slots"])))
        let encodedFull = try JSONValue.parse(try JanssonEncoder().encode(full))
        let fullEpochs = encodedFull.objectValue?["epochs"]?.arrayValue ?? []
        let epochs = try #require(document.objectValue?["epochs"]?.arrayValue)
        #expect(epochs.count == summaries.count - 3)
        for (index, epoch) in epochs.enumerated() {
            let object = try #require(epoch.objectValue)
            let whole = try #require(fullEpochs[index + 3].objectValue)
            #expect(Set(object.keys) == ["epoch", "train_loss", "slots"])
            for (key, value) in object { #expect(value == whole[key], "\(key)") }
        }
        #expect(document.objectValue?["events"]?.arrayValue?.count == 1)
        #expect(try service.metricsJSON("00000000-0000-4000-8000-000000000000", since: 1) == nil)
    }

    @Test func theHistoryFieldNamesAreTheEncodedSummaryMembers() throws {
        let directory = TemporaryDirectory("esper-run-history-fields")
        let jobs = try RunRecordsTests.IdleQueue()
        let (_, _, summaries) = try RunRecordsTests.run(directory, jobs)
        var summary = try #require(summaries.last)
        // Every optional member present, so the encoding names them all.
        summary.seeds = []
        summary.heldOutSplit = summary.heldOutSplit ?? .validation
        summary.trainingFlops = 1
        summary.totalTrainingFlops = 2
        summary.branches = []
        summary.insertions = []
        let members = try #require(try JSONValue.parse(try JanssonEncoder().encode(summary)).objectValue)
        #expect(Set(members.keys) == RunService.epochFields)
    }
}
