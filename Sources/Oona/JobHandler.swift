public import EsperJSON
public import Oona
import Synchronization

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

/// Runs jobs of one kind. `handle` runs on the worker slot's thread for as long as the job
/// takes; it must be idempotent (a job is delivered at least once, and a reclaimed one is
/// handled again by another worker).
public protocol JobHandler: Sendable {
    var kind: JobKind { get }
    func handle(_ context: JobContext, worker: WorkerRuntime) -> JobDisposition
    /// The job was moved to the dead-letter stream (delivered too often: it keeps killing
    /// the workers that take it, or its entry was unreadable). `job` is nil when the payload
    /// could not be read.
    func deadLettered(job: JSONValue?, reason: String, worker: WorkerRuntime)
}

/// The handlers a worker runs, by kind: a new kind of background work is one registration.
public struct JobHandlerRegistry: Sendable {
    private var handlers: [JobKind: any JobHandler] = [:]

    public init(_ handlers: [any JobHandler] = []) {
        for handler in handlers { register(handler) }
    }

    public mutating func register(_ handler: any JobHandler) { handlers[handler.kind] = handler }

    public func handler(for kind: JobKind) -> (any JobHandler)? { handlers[kind] }

    public var kinds: [JobKind] { JobKind.allCases.filter { handlers[$0] != nil } }
}
