public import EsperJSON
public import EsperStorage
import Foundation
import Leyline
public import Logging
import Oona
import Synchronization
public import Tolaria

/// A request the service refuses: unknown run, a state change the run's status does not
/// allow, or the job queue is unreachable (try again).
public enum RunControlError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case conflict(String)
    case unavailable(String)

    public var description: String {
        switch self {
        case .notFound(let message), .conflict(let message), .unavailable(let message): message
        }
    }
}

/// Why a submission was refused: bad config (every problem listed) or no storage.
public enum RunSubmissionError: Error, Sendable {
    case invalid(RunConfigError)
    case storage(String)
}

/// The control plane of training runs: accepts them (validated, recorded), hands them to
/// workers as jobs on the bus (`JobQueue`), relays pause/resume/stop to the worker
/// holding a run, and applies what workers report (`apply`) to the run registry — the one
/// place the API reads. Every status it records goes to the sinks too
/// (`runStatusChanged`: the bus sink publishes it for event streams), but a new run's
/// `queued`, which is published in its job's transaction (`JobQueue.enqueue`). It never
/// trains: the in-process workers of `esper serve` and `esper worker` processes take the same
/// jobs the same way. A reconcile loop re-creates the
/// job of any unfinished run whose control Redis lost (or whose enqueue failed).
public final class RunService: Sendable {
    public struct Options: Sendable {
        /// `<data>/tolaria`: `runs.db`.
        public var directory: String
        /// Root of the CSV/IDX files a run config may name (checked at submission).
        public var datasetsDirectory: String
        /// How often unfinished runs are checked against the job queue's controls.
        public var reconcileInterval: Duration
        /// Unfinished runs checked per round at most: a round is bounded work however many runs
        /// wait (all of them every 5 s was a scan and 120 HMGETs with 60,000 queued), and the
        /// rounds walk the runs in order, so each is checked within ⌈unfinished / batch⌉ rounds.
        public var reconcileBatch: Int

        public init(
            directory: String, datasetsDirectory: String, reconcileInterval: Duration = .seconds(5), reconcileBatch: Int = 2000
        ) {
            self.directory = directory
            self.datasetsDirectory = datasetsDirectory
            self.reconcileInterval = reconcileInterval
            self.reconcileBatch = max(1, reconcileBatch)
        }
    }

    /// Checks a parsed config against what the controller knows (blueprints, slot widths);
    /// every problem names its field.
    public typealias ConfigValidator = @Sendable (_ config: RunConfig, _ architecture: HostArchitecture) -> [JSONFieldProblem]

    public let options: Options
    public let registry: RunRegistry
    let loader: DatasetLoader
    /// Data-set shapes validation already learnt (a study validates many runs of one data set).
    public let datasetShapes: DatasetShapeCache
    let logger: Logger
    /// The server's own events (cancellation, completion, failure): registry and bus.
    let sink: any TrainingEventSink
    /// Where runs go as jobs, and their controls (Redis): every call may fail while Redis is
    /// away, and the reconcile loop then tries again.
    let queue: JobQueue
    let configValidator: ConfigValidator?
    /// Serialises read-modify-write of a run's status between HTTP threads and the record
    /// applier.
    private let lock = Mutex(())
    /// The reconcile loop's thread.
    private let reconciler = BackgroundThread(name: "tolaria-reconcile")
    /// Where the next reconcile round starts (the `seq` the last one ended at; 0: from the
    /// first run).
    private let reconcileFrom = Atomic<Int64>(0)

    public init(
        options: Options, logger: Logger, sinks: [any TrainingEventSink] = [], queue: JobQueue,
        configValidator: ConfigValidator? = nil
    ) throws(StorageError) {
        self.options = options
        self.logger = logger
        registry = try RunRegistry(path: options.directory + "/runs.db")
        loader = DatasetLoader(directory: options.datasetsDirectory)
        datasetShapes = DatasetShapeCache(directory: options.datasetsDirectory)
        sink = FanOutTrainingSink([RegistrySink(registry: registry, logger: logger)] + sinks)
        self.queue = queue
        self.configValidator = configValidator
    }

    /// Starts the reconcile loop (its first round at once: runs a crash left queued or
    /// running keep or get their job).
    public func start() throws {
        try AtomicFile.createDirectory(options.datasetsDirectory)
        reconciler.startLoop(every: options.reconcileInterval) { [self] in reconcile() }
    }

    /// Stops the reconcile loop, waiting up to `timeout` for a round in progress.
    public func shutdown(timeout: Duration = .seconds(5)) {
        reconciler.requestStop()
        reconciler.join(until: ContinuousClock.now + timeout)
    }

    /// Unfinished runs whose control is missing get it back (and queued/running ones their
    /// job); a control that disagrees with the registry is corrected. One page of
    /// `reconcileBatch` runs a round, after where the last round ended (from the start again
    /// after the last page).
    func reconcile() {
        do {
            let unfinished = try registry.unfinished(after: reconcileFrom.load(ordering: .relaxed), limit: options.reconcileBatch)
            reconcileFrom.store(unfinished.count < options.reconcileBatch ? 0 : unfinished.last?.seq ?? 0, ordering: .relaxed)
            guard !unfinished.isEmpty else { return }
            let controls = try queue.controls(runIds: unfinished.map(\.id))
            var requeued = 0
            for run in unfinished {
                let wanted: RunControlState = run.status == .paused ? .pause : .run
                switch controls[run.id] {
                case nil where wanted == .run:
                    guard let config = try registry.config(of: run.id) else { continue }
                    try queue.enqueue(RunJob(runId: run.id, reason: .requeued, config: config))
                    requeued += 1
                case let current? where current == wanted:
                    break
                default:
                    try queue.setControl(runId: run.id, wanted)
                }
            }
            if requeued > 0 { logger.info("enqueued jobs for unfinished runs", metadata: ["count": "\(requeued)"]) }
        } catch {
            logger.debug("run reconcile skipped", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Requests (called from HTTP handlers: validate, record, return)

    /// Validates a run config (including loading its data set, so a bad CSV line is reported
    /// now), records the run as queued and enqueues its job. With an idempotency key already
    /// used, returns that run. A job queue that is down does not refuse the run: the
    /// reconcile loop enqueues it when Redis is back.
    public func submit(_ json: JSONValue, idempotencyKey: String? = nil) throws(RunSubmissionError) -> RunRecord {
        switch try prepareSubmission(json, idempotencyKey: idempotencyKey) {
        case .answered(let record):
            return record
        case .new(let id, let config, let encoded):
            let creation = Result { try registry.create(id: id, config: config, configJSON: encoded.json, idempotencyKey: idempotencyKey) }
            return try completeSubmission(id: id, config: config, encoded: encoded, creation).record
        }
    }

    /// A submitted run's record, and its encoding as the API answers it.
    public struct SubmittedRun: Sendable {
        public let record: RunRecord
        public let json: [UInt8]
    }

    /// The work that follows a submission once its run is recorded: announce, enqueue and
    /// give the run's record (or why not).
    public typealias SubmissionFinish = @Sendable () throws(RunSubmissionError) -> SubmittedRun

    /// `submit` without holding the caller's thread while the run's group commit syncs (the
    /// HTTP handler parks its request instead): a bad config is thrown at once; otherwise
    /// `whenRecorded` is called — at once for an idempotency key already used, else from the
    /// committer thread once the run is on disk — with the rest of the work, which the
    /// caller runs on a thread of its own (it talks to the bus).
    public func submit(
        _ json: JSONValue, idempotencyKey: String? = nil, whenRecorded: @escaping @Sendable (_ finish: @escaping SubmissionFinish) -> Void
    ) throws(RunSubmissionError) {
        switch try prepareSubmission(json, idempotencyKey: idempotencyKey) {
        case .answered(let record):
            whenRecorded { () throws(RunSubmissionError) -> SubmittedRun in try self.submitted(record) }
        case .new(let id, let config, let encoded):
            registry.create(id: id, config: config, configJSON: encoded.json, idempotencyKey: idempotencyKey) { creation in
                whenRecorded { () throws(RunSubmissionError) -> SubmittedRun in
                    try self.completeSubmission(id: id, config: config, encoded: encoded, creation)
                }
            }
        }
    }

    private enum Submission {
        /// The idempotency key's run.
        case answered(RunRecord)
        /// A valid config and its encoding (made once: stored, sent with the job, kept for
        /// the record), to record under this new id.
        case new(id: String, config: RunConfig, encoded: (json: [UInt8], value: JSONValue))
    }

    private func prepareSubmission(_ json: JSONValue, idempotencyKey: String?) throws(RunSubmissionError) -> Submission {
        if let key = idempotencyKey, let existing = try? registry.id(forIdempotencyKey: key), let record = try? registry.run(existing) {
            return .answered(record)
        }
        let config: RunConfig
        do throws(RunConfigError) {
            config = try validate(json)
        } catch {
            throw .invalid(error)
        }
        do {
            // Time-ordered: new runs' ids all go to the last page of the registry's id index.
            let id = EventID.timeOrdered(unixMilliseconds: UInt64(max(0, WallClock.nanoseconds() / 1_000_000)))
            return .new(id: id, config: config, encoded: try JanssonEncoder().encodeBoth(config))
        } catch {
            throw .storage("\(error)")
        }
    }

    /// An existing run's answer (an idempotency key's, or the winner of a race for one).
    private func submitted(_ record: RunRecord) throws(RunSubmissionError) -> SubmittedRun {
        do {
            return SubmittedRun(record: record, json: try JanssonEncoder().encode(record))
        } catch {
            throw .storage("\(error)")
        }
    }

    private func completeSubmission(
        id: String, config: RunConfig, encoded: (json: [UInt8], value: JSONValue), _ creation: Result<RunRegistry.Creation, any Error>
    ) throws(RunSubmissionError) -> SubmittedRun {
        let createdNs: Int64
        switch creation {
        case .success(.existing(let existing)):
            // Lost a race with the same key: answer with the winner.
            let record: RunRecord?
            do {
                record = try registry.run(existing)
            } catch {
                throw .storage("\(error)")
            }
            guard let record else { throw .storage("run \(existing) vanished") }
            return try submitted(record)
        case .success(.created(let at)):
            createdNs = at
        case .failure(let error):
            throw .storage("\(error)")
        }
        // Committed and synced: "queued" is announced in the job's own transaction, before
        // the job (a worker can start the run at once, and its "running" must not overtake
        // "queued" on the bus) — one round trip, where the sinks' announcement was another.
        let queued = BusMessage.telemetry(BusTrainingSink.statusPacket(id, status: .queued, epoch: 0, error: nil))
        do {
            try queue.enqueue(RunJob(runId: id, reason: .submitted, config: config), config: encoded.value, announcing: [queued])
        } catch {
            logger.warning(
                "run recorded but not enqueued yet; the reconcile loop retries", metadata: ["run": "\(id)", "error": "\(error)"])
        }
        // What the registry now holds for the run (not read back: nothing else changed it
        // unless a worker already started it, which a later GET shows), written as a list
        // writes it, around the config's encoding made once.
        let record = RunRecord(
            id: id, name: config.name, status: .queued, config: config, epoch: 0, epochs: config.epochs, globalStep: 0,
            latestMetrics: nil, timings: RunTimings(), rollbacks: 0, restarts: 0, resumedFromEpoch: nil, error: nil,
            createdAt: RFC3339.format(unixNanoseconds: createdNs), startedAt: nil, finishedAt: nil)
        var json: [UInt8] = []
        json.reserveCapacity(encoded.json.count + 512)
        let row = RunRecordJSON.Row(queued: id, name: config.name, epochs: config.epochs, createdNs: createdNs)
        _ = RunRecordJSON.write(row, config: (config, encoded.json), latest: nil, into: &json)
        return SubmittedRun(record: record, json: json)
    }

    /// Parses and checks a run config exactly as `submit` does (data set loaded, parameter
    /// limit, the controller's validator) without recording anything; every problem names its
    /// field. Studies check all the runs they would create before creating any.
    public func validate(_ json: JSONValue) throws(RunConfigError) -> RunConfig {
        let config = try RunConfig.parse(json)
        let shape = try cachedDatasetShape(of: config)
        let shapeProblems = config.model.shapeProblems(inputs: shape.inputs, batchSize: config.batchSize)
        if !shapeProblems.isEmpty { throw RunConfigError(problems: shapeProblems) }
        let architecture = HostArchitecture(model: config.model, inputs: shape.inputs, classes: shape.classes)
        if architecture.parameterCount > RunConfig.Limits.maxParameters {
            throw RunConfigError(problems: [
                JSONFieldProblem(
                    field: config.model.layers == nil ? "model.hidden_sizes" : "model.layers",
                    message:
                        "the model would have \(architecture.parameterCount) parameters; the limit is \(RunConfig.Limits.maxParameters)"
                )
            ])
        }
        if let configValidator {
            let problems = configValidator(config, architecture)
            if !problems.isEmpty { throw RunConfigError(problems: problems) }
        }
        return config
    }

    public func run(_ id: String) throws -> RunRecord? { try registry.run(id) }

    public func list(status: RunStatus?, limit: Int, cursor: Int64?) throws -> (records: [RunRecord], nextCursor: Int64?) {
        let page = try registry.list(status: status, before: cursor, limit: limit)
        return (page.records, page.more ? page.lastSeq : nil)
    }

    /// `list` as the API encodes its items (a JSON array, after `prefix`: the start of the
    /// answer it goes in, so a page of records is not copied again), and the next cursor's
    /// sequence.
    public func listJSON(
        status: RunStatus?, limit: Int, cursor: Int64?, prefix: [UInt8] = []
    ) throws -> (items: [UInt8], nextCursor: Int64?) {
        let page = try registry.listJSON(status: status, before: cursor, limit: limit, prefix: prefix)
        return (page.items, page.more ? page.lastSeq : nil)
    }

    /// `run(id)` as the API encodes it.
    public func runJSON(_ id: String) throws -> [UInt8]? { try registry.runJSON(id) }

    public func metrics(_ id: String) throws -> RunMetrics? {
        guard let record = try registry.run(id) else { return nil }
        return RunMetrics(runId: id, status: record.status, epochs: try registry.epochs(id), events: try registry.events(id))
    }

    /// `metrics(id)` encoded as the API answers it, assembled from the stored JSON of the
    /// epochs and events (`RunRegistry.metricsJSON`): the same bytes as encoding `metrics(id)`,
    /// without decoding and re-encoding each epoch. `since`: epochs from that number on (and
    /// their events); `fields`: each epoch with only those members and `epoch`
    /// (`RunService.epochFields` names the valid ones).
    public func metricsJSON(_ id: String, since: Int? = nil, fields: Set<String>? = nil) throws -> [UInt8]? {
        try registry.metricsJSON(id, since: since, fields: fields)
    }

    /// The members of an epoch summary (`EpochSummary` as encoded) a history's `fields` may name.
    public static let epochFields: Set<String> = [
        "boundary_ms", "branches", "controller_ms", "epoch", "epoch_ms", "epochs", "experiment_name", "global_step",
        "gradient_norm", "held_out_split", "insertions", "learning_rates", "run_id", "samples_per_second", "seeds", "slots", "timestamp_ns",
        "total_training_flops", "train_accuracy", "train_loss", "train_samples", "training_flops", "validation_accuracy",
        "validation_loss", "validation_ms", "validation_samples",
    ]

    /// queued or running → paused. The worker holding it checkpoints at its next epoch
    /// boundary and gives it up; a queued run's job is skipped when a worker takes it.
    public func pause(_ id: String) throws -> RunRecord {
        try change(id) { record throws in
            guard record.status == .queued || record.status == .running else {
                throw RunControlError.conflict("run \(id) is \(record.status.rawValue); only a queued or running run can be paused")
            }
            try relay { try queue.setControl(runId: id, .pause) }
            return .paused
        }
    }

    /// paused → queued: a new job; whichever worker takes it resumes from the checkpoint.
    public func resume(_ id: String) throws -> RunRecord {
        try change(id) { record throws in
            guard record.status == .paused else {
                throw RunControlError.conflict("run \(id) is \(record.status.rawValue); only a paused run can be resumed")
            }
            try relay { try queue.enqueue(RunJob(runId: id, reason: .resumed, config: record.config)) }
            return .queued
        }
    }

    /// queued, running or paused → cancelled. The worker holding it ends at its next batch.
    public func stop(_ id: String) throws -> RunRecord {
        var last: TrainingEvent?
        let record = try change(id) { record throws in
            guard !record.status.isFinished else { throw RunControlError.conflict("run \(id) is already \(record.status.rawValue)") }
            try relay { try queue.setControl(runId: id, .stop) }
            // In the history before the status says the run is over (as for a finished run).
            let event = TrainingEvent(
                runId: id, epoch: record.epoch, kind: .runCompleted, level: .info, message: "run cancelled",
                attributes: ["status": "cancelled"])
            try registry.recordEvent(event)
            last = event
            return .cancelled
        }
        if let last { sink.event(last) }
        return record
    }

    private func relay(_ body: () throws -> Void) throws {
        do { try body() } catch {
            throw RunControlError.unavailable("the job queue cannot be reached (\(error)); try again")
        }
    }

    /// Applies a transition under the lock and records it.
    private func change(_ id: String, _ body: (RunRecord) throws -> RunStatus) throws -> RunRecord {
        let record = try lock.withLock { _ throws -> RunRecord in
            guard let record = try registry.run(id) else { throw RunControlError.notFound("no run \(id)") }
            let status = try body(record)
            try registry.setStatus(id, status)
            return try registry.run(id) ?? record
        }
        sink.runStatusChanged(id, status: record.status, epoch: record.epoch, error: nil)
        return record
    }

    // MARK: - What workers report

    /// What the registry does not keep itself: a remote run's field reports (Tamiyo's log,
    /// Simic's buffer) and seed views (Kasmina's registry). Set once at start.
    public struct RecordHandlers: Sendable {
        public typealias Handler = @Sendable (_ record: RunJobRecord, _ payload: JSONValue) throws -> Void
        public var fieldReport: Handler?
        public var seeds: Handler?

        public init(fieldReport: Handler? = nil, seeds: Handler? = nil) {
            self.fieldReport = fieldReport
            self.seeds = seeds
        }
    }

    private let recordHandlers = Mutex(RecordHandlers())

    public func handleRecords(_ handlers: RecordHandlers) { recordHandlers.withLock { $0 = handlers } }

    /// Relays an operator's cull to the worker that holds the run (its heartbeat picks it up).
    public func requestCull(runId: String, seedId: String) throws {
        guard let status = try registry.status(runId) else { throw RunControlError.notFound("no run \(runId)") }
        guard status == .running || status == .queued else {
            throw RunControlError.conflict("run \(runId) is \(status.rawValue); its seeds can no longer change")
        }
        try relay { try queue.requestCull(runId: runId, seedId: seedId) }
    }

    /// Applies one worker record. Exactly once: a record seen twice, repeated by the worker
    /// that took over a reclaimed job, or delivered late after newer ones leaves the registry
    /// as once — epochs are keyed, events deduplicated by content, a run's progress and
    /// status only move forward, a finished run keeps its final status whatever arrives
    /// late, and a record of an attempt a later attempt resumed over (`JobAttempt`) is
    /// dropped for the epochs that attempt trains again.
    public func apply(_ record: RunJobRecord) throws {
        let id = record.runId
        let attempt = record.attempt.flatMap(JobAttempt.init)
        var changed: (RunStatus, Int, String?)?
        var ownEvent: TrainingEvent?
        var clear = false
        // Epochs, events, reports and seed views (nearly every record) need no status change:
        // no lock.
        switch record.kind {
        case .epoch:
            guard let summary = record.summary, summary.runId == id, let progress = try registry.progress(id),
                !progress.supersedes(attempt, epoch: summary.epoch)
            else { return }
            try registry.recordEpoch(summary, attempt: attempt)
            return
        case .event:
            guard let event = record.event, event.runId == id, let progress = try registry.progress(id),
                !progress.supersedes(attempt, epoch: event.epoch)
            else { return }
            try registry.recordEvent(event, attempt: attempt)
            return
        case .fieldReport:
            // Deduplicated by report id where it is stored; a superseded attempt's report is
            // the same report its successor writes again.
            guard let payload = record.payload, try registry.status(id) != nil,
                let handler = recordHandlers.withLock({ $0.fieldReport })
            else { return }
            try handler(record, payload)
            return
        case .seeds:
            guard let payload = record.payload, let progress = try registry.progress(id),
                !progress.supersedes(attempt, epoch: record.epoch ?? 0), let handler = recordHandlers.withLock({ $0.seeds })
            else { return }
            try handler(record, payload)
            return
        default:
            break
        }
        try lock.withLock { _ throws in
            guard let current = try registry.run(id) else {
                logger.debug("record for an unknown run ignored", metadata: ["run": "\(id)", "kind": "\(record.kind.rawValue)"])
                return
            }
            switch record.kind {
            case .started:
                if current.status == .queued {
                    try registry.setStatus(id, .running)
                    changed = (.running, current.epoch, nil)
                }
            case .resumed:
                guard let epoch = record.epoch, !current.status.isFinished else { return }
                if let attempt, let applied = try registry.progress(id)?.resumedAttempt, attempt <= applied {
                    return  // this resume (or a later one) is applied already
                }
                try registry.resumed(id, atEpoch: epoch, attempt: attempt)
                if record.restart == true { try registry.countRestart(id) }
            case .epoch, .event, .fieldReport, .seeds:
                return  // applied above
            case .finished:
                guard let status = record.status else { return }
                if let progress = try registry.progress(id), progress.supersedes(attempt, epoch: Int.max) {
                    return  // an attempt a later one took over: the run goes on there
                }
                guard !current.status.isFinished else {
                    clear = true  // the worker let go of a run already over (cancelled)
                    return
                }
                switch status {
                case .succeeded, .failed:
                    let epoch = current.epoch
                    let event =
                        status == .failed
                        ? TrainingEvent(runId: id, epoch: epoch, kind: .runFailed, level: .error, message: record.error ?? "failed")
                        : TrainingEvent(
                            runId: id, epoch: epoch, kind: .runCompleted, level: .info, message: "run succeeded",
                            attributes: ["status": status.rawValue])
                    // The run's last event is in its history before its status says it is
                    // over: a client that sees `succeeded` and reads the history finds it
                    // (the sinks record it again below: the same event, deduplicated).
                    try registry.recordEvent(event)
                    try registry.setStatus(id, status, error: record.error)
                    changed = (status, epoch, record.error)
                    ownEvent = event
                default:
                    return  // cancellation is recorded by `stop`; nothing else ends a run
                }
            }
        }
        if let ownEvent { sink.event(ownEvent) }
        if let (status, epoch, error) = changed {
            clear = clear || status.isFinished
            sink.runStatusChanged(id, status: status, epoch: epoch, error: error)
        }
        if clear {
            do { try queue.clearControl(runId: id) } catch {
                logger.debug("run control not cleared", metadata: ["run": "\(id)", "error": "\(error)"])
            }
        }
    }
}
