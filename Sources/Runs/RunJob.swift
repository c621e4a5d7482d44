public import EsperJSON
public import Tolaria

/// A training run as work for a worker (the payload of a `jobs.training` entry): everything
/// a worker on another machine needs to train it without the server's database.
public struct RunJob: Sendable, Codable, Equatable {
    /// Why the job was enqueued: `submitted` (new run), `resumed` (a user resumed a paused
    /// run), `requeued` (a worker shut down gracefully or the server re-created a lost job).
    public enum Reason: String, Sendable, Codable {
        case submitted, resumed, requeued
    }

    public var runId: String
    public var reason: Reason
    public var config: RunConfig

    public init(runId: String, reason: Reason, config: RunConfig) {
        self.runId = runId
        self.reason = reason
        self.config = config
    }

    /// `JanssonEncoder().encodeValue(self)` given the config's encoding already made (a
    /// submission encodes its config once for the registry row, the job and the record cache).
    func encodedValue(config: JSONValue) -> JSONValue {
        .object(["config": config, "reason": .string(reason.rawValue), "run_id": .string(runId)])
    }
}

/// What a user asked of a run, as the worker holding it reads it at every batch and epoch
/// boundary (a Redis hash, `esper:{bus}:runs.control`).
public enum RunControlState: String, Sendable, Codable {
    /// Train.
    case run
    /// Checkpoint at the next epoch boundary and give the run up (a resume enqueues it again).
    case pause
    /// Cancel at the next batch.
    case stop
}

/// What a worker reports about a run it trains (a `jobs.records` entry). The server applies
/// them to the run registry in order; every kind is idempotent, so a redelivery or a record
/// repeated by the worker that resumed a reclaimed job changes nothing twice.
public struct RunJobRecord: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// A worker took the run (queued → running).
        case started
        /// It resumed from the checkpoint of `epoch`: later epochs will be trained again.
        case resumed
        /// One finished epoch (`summary`).
        case epoch
        /// A training event (`event`).
        case event
        /// The run ended: `status` succeeded, failed (with `error`) or cancelled.
        case finished
        /// A Tamiyo field report of the run (`payload`: Leyline's JSON of the `FieldReport`;
        /// deduplicated by its `report_id` wherever it is stored).
        case fieldReport = "field_report"
        /// Kasmina's view of the run's seeds after an epoch boundary (`payload`: the
        /// `RunSeedsView`), so `/runs/{id}/seeds` of a remote run answers as for a local one.
        case seeds
    }

    public var kind: Kind
    public var runId: String
    /// The worker (consumer) that sent it.
    public var worker: String
    public var epoch: Int?
    /// For `resumed`: the run was picked up again after an interruption (a crash, a
    /// reclaim, a shutdown) rather than after a user's pause.
    public var restart: Bool?
    public var summary: EpochSummary?
    public var event: TrainingEvent?
    public var status: RunStatus?
    public var error: String?
    /// The training attempt that sent it (`JobAttempt`: the job's entry and delivery count).
    /// The server ignores records of an attempt older than the newest it has seen, so a
    /// record redelivered late, or sent by a worker that lost its job, never moves a run
    /// backwards. Absent: not tied to an attempt (applied under the monotonic rules only).
    public var attempt: String?
    /// `field_report` and `seeds`: the record's body (opaque to Tolaria).
    public var payload: JSONValue?

    public init(
        kind: Kind, runId: String, worker: String, epoch: Int? = nil, restart: Bool? = nil, summary: EpochSummary? = nil,
        event: TrainingEvent? = nil, status: RunStatus? = nil, error: String? = nil, attempt: String? = nil, payload: JSONValue? = nil
    ) {
        self.attempt = attempt
        self.payload = payload
        self.kind = kind
        self.runId = runId
        self.worker = worker
        self.epoch = epoch
        self.restart = restart
        self.summary = summary
        self.event = event
        self.status = status
        self.error = error
    }
}
