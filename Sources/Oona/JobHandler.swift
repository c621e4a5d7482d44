// The job protocol: what a handler of background work sees and answers, below every
// subsystem that has jobs (Simic's policy training, Tezzeret's compiles, Runs' training runs),
// so each handler lives next to its subsystem. The machinery that runs them — the job queue's
// leases and `WorkerRuntime`'s slots — is in Runs.
public import EsperJSON
import Foundation

/// The kinds of background work, each on its own job stream; a handler registers for one.
public enum JobKind: String, Sendable, Codable, CaseIterable {
    case training, compile, policy

    public var stream: OonaStream {
        switch self {
        case .training: .jobsTraining
        case .compile: .jobsCompile
        case .policy: .jobsPolicy
        }
    }
}

/// One job as a handler sees it.
public struct JobContext: Sendable {
    public let kind: JobKind
    public let stream: OonaStream
    public let entryId: String
    /// The `job` object of the payload.
    public let job: JSONValue
    /// 1 on first delivery; more when a worker died holding it (or failed it) and another
    /// took it over.
    public let deliveryCount: Int
    /// The consumer (worker slot) holding it.
    public let consumer: String
    public let slot: Int

    public init(kind: JobKind, stream: OonaStream, entryId: String, job: JSONValue, deliveryCount: Int, consumer: String, slot: Int) {
        self.kind = kind
        self.stream = stream
        self.entryId = entryId
        self.job = job
        self.deliveryCount = deliveryCount
        self.consumer = consumer
        self.slot = slot
    }
}

/// What became of a job.
public enum JobDisposition: Sendable {
    /// Done with (succeeded, failed for good, skipped): acknowledge it.
    case done
    /// Hand it back (the worker is shutting down): enqueue `job` again, then acknowledge.
    case requeue(JSONValue)
    /// It is not ours any more (another worker reclaimed it while we could not refresh our
    /// hold): leave it alone — no acknowledgement.
    case abandoned
}

/// What a handler may ask of the worker running it, whatever runs it (`Runs.WorkerRuntime`
/// in `esper serve` and `esper worker`).
public protocol JobWorker: AnyObject, Sendable {
    /// `<host>-<pid>`.
    var id: String { get }
    /// The worker is shutting down: a job handed back now is requeued.
    var isStopping: Bool { get }
    /// Runs `body` holding the job's lease for `runId` (one live holder per id, kept by the
    /// worker's heartbeat): `.requeue` when stopping, `.abandoned` when another worker took it
    /// over, `.done` when another live entry holds the id.
    func holding(_ context: JobContext, runId: String, _ body: () -> JobDisposition) -> JobDisposition
}

/// Runs jobs of one kind. `handle` runs on the worker slot's thread for as long as the job
/// takes; it must be idempotent (a job is delivered at least once, and a reclaimed one is
/// handled again by another worker). `Worker` is the worker type it runs on: a handler that
/// needs only `JobWorker` is generic over it; the training handler needs `WorkerRuntime`'s
/// run controls and records.
public protocol JobHandler<Worker>: Sendable {
    associatedtype Worker: JobWorker
    var kind: JobKind { get }
    func handle(_ context: JobContext, worker: Worker) -> JobDisposition
    /// The job was moved to the dead-letter stream (delivered too often: it keeps killing
    /// the workers that take it, or its entry was unreadable). `job` is nil when the payload
    /// could not be read.
    func deadLettered(job: JSONValue?, reason: String, worker: Worker)
}

/// The handlers a worker runs, by kind: a new kind of background work is one registration.
public struct JobHandlerRegistry<Worker: JobWorker>: Sendable {
    private var handlers: [JobKind: any JobHandler<Worker>] = [:]

    public init(_ handlers: [any JobHandler<Worker>] = []) {
        for handler in handlers { register(handler) }
    }

    public mutating func register(_ handler: any JobHandler<Worker>) { handlers[handler.kind] = handler }

    public func handler(for kind: JobKind) -> (any JobHandler<Worker>)? { handlers[kind] }

    public var kinds: [JobKind] { JobKind.allCases.filter { handlers[$0] != nil } }
}

extension OonaClient {
    /// Publishes a job's record on `jobs.records` (what an `esper worker` reports to the server:
    /// an `UNSPECIFIED` message from `workers`), retrying every 200 ms while Redis is away, for
    /// up to 30 s or until `stopping` says the worker is shutting down; then the last error.
    public func publishJobRecord(_ record: some Encodable, attributes: [String: String], stopping: () -> Bool) throws {
        let value = try JanssonEncoder().encodeValue(record)
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                _ = try publish(
                    .unspecified(value), options: PublishOptions(stream: .jobsRecords, attributes: attributes, source: "workers"))
                return
            } catch {
                if ContinuousClock.now >= deadline || stopping() { throw error }
                usleep(200_000)
            }
        }
    }
}
