public import EsperJSON
public import EsperStorage
import Foundation
public import Logging
import Synchronization

/// A request the service refuses: unknown run, or a state change the run's status does not
/// allow.
public enum RunControlError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case conflict(String)

    public var description: String {
        switch self {
        case .notFound(let message), .conflict(let message): message
        }
    }
}

/// Why a submission was refused: bad config (every problem listed) or no storage.
public enum RunSubmissionError: Error, Sendable {
    case invalid(RunConfigError)
    case storage(String)
}

/// Runs training runs: accepts them, queues them, executes up to `maxConcurrentRuns` at once
/// on worker threads of their own (never the caller's thread), pauses, resumes and stops
/// them, and at start-up picks up the runs a crash or shutdown interrupted — each from its
/// last checkpoint. All state that outlives a request is in the `RunRegistry`; everything a
/// caller does here returns at once.
public final class RunService: Sendable {
    public struct Options: Sendable {
        /// `<data>/tolaria`: `runs.db` and a folder per run for checkpoints.
        public var directory: String
        /// Root of the CSV/IDX files a run config may name.
        public var datasetsDirectory: String
        public var maxConcurrentRuns: Int
        /// OpenBLAS threads (process-wide): 1 keeps concurrent runs from oversubscribing.
        public var blasThreads: Int

        public init(directory: String, datasetsDirectory: String, maxConcurrentRuns: Int, blasThreads: Int = 1) {
            self.directory = directory
            self.datasetsDirectory = datasetsDirectory
            self.maxConcurrentRuns = max(1, maxConcurrentRuns)
            self.blasThreads = max(1, blasThreads)
        }
    }

    /// Makes the end-of-epoch controller of a run, on its training thread.
    public typealias ControllerFactory = @Sendable (_ runId: String, _ config: RunConfig) -> any EpochController
    /// Checks a parsed config against what the controller knows (blueprints, slot widths);
    /// every problem names its field.
    public typealias ConfigValidator = @Sendable (_ config: RunConfig, _ architecture: HostArchitecture) -> [JSONFieldProblem]

    public let options: Options
    public let registry: RunRegistry
    let loader: DatasetLoader
    let logger: Logger
    let sink: any TrainingEventSink
    let controllerFactory: ControllerFactory
    let configValidator: ConfigValidator?
    private let state = Mutex(SchedulerState())
    private let workers = DispatchGroup()

    struct Entry {
        var status: RunStatus
        var config: RunConfig
        let control: RunControl
        var holdsSlot = false
        var started = false
        /// The data set parsed while validating the submission (nil after a restart).
        var dataset: Dataset?
    }

    struct SchedulerState {
        var entries: [String: Entry] = [:]
        /// Runs waiting for a slot, first come first served.
        var waiting: [String] = []
        var busySlots = 0
        var shuttingDown = false
    }

    public init(
        options: Options, logger: Logger, sinks: [any TrainingEventSink] = [],
        controllerFactory: @escaping ControllerFactory = { _, _ in NoOpEpochController() },
        configValidator: ConfigValidator? = nil
    ) throws(StorageError) {
        self.options = options
        self.logger = logger
        registry = try RunRegistry(path: options.directory + "/runs.db")
        loader = DatasetLoader(directory: options.datasetsDirectory)
        sink = FanOutTrainingSink([RegistrySink(registry: registry, logger: logger)] + sinks)
        self.controllerFactory = controllerFactory
        self.configValidator = configValidator
    }

    /// Sets the BLAS threads and re-queues the runs left unfinished by the last process.
    public func start() throws {
        Kernels.blasThreads = options.blasThreads
        try AtomicFile.createDirectory(options.datasetsDirectory)
        let unfinished = try registry.unfinished()
        try state.withLock { (state: inout SchedulerState) throws in
            for run in unfinished {
                let entry = Entry(
                    status: run.status == .paused ? .paused : .queued, config: run.config,
                    control: makeControl(run.id))
                if run.status == .running { try registry.countRestart(run.id) }
                if entry.status == .queued {
                    state.waiting.append(run.id)
                    try setStatus(run.id, .queued)
                }
                state.entries[run.id] = entry
            }
            dispatch(&state)
        }
        if !unfinished.isEmpty {
            logger.info("picked up unfinished runs", metadata: ["count": "\(unfinished.count)"])
        }
    }

    /// Asks every training thread to stop at its next batch, leaving runs resumable, and
    /// waits for them (up to `timeout`).
    public func shutdown(timeout: Duration = .seconds(30)) {
        state.withLock { state in
            state.shuttingDown = true
            state.waiting.removeAll()
            for entry in state.entries.values where entry.started { entry.control.post(.suspend) }
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        if workers.wait(timeout: .now() + seconds) == .timedOut {
            logger.warning("training threads still running at shutdown")
        }
    }

    // MARK: - Requests (called from HTTP handlers: validate, record, return)

    /// Validates a run config (including loading its data set, so a bad CSV line is reported
    /// now) and queues the run. With an idempotency key already used, returns that run.
    public func submit(_ json: JSONValue, idempotencyKey: String? = nil) throws(RunSubmissionError) -> RunRecord {
        if let key = idempotencyKey, let existing = try? registry.id(forIdempotencyKey: key), let record = try? registry.run(existing) {
            return record
        }
        let config: RunConfig
        let dataset: Dataset
        do throws(RunConfigError) {
            config = try RunConfig.parse(json)
            dataset = try loader.load(config.dataset, runSeed: config.seed)
            let architecture = HostArchitecture(
                inputs: dataset.featureCount, hiddenSizes: config.model.hiddenSizes,
                classes: dataset.classCount)
            if architecture.parameterCount > RunConfig.Limits.maxParameters {
                throw RunConfigError(problems: [
                    JSONFieldProblem(
                        field: "model.hidden_sizes",
                        message:
                            "the model would have \(architecture.parameterCount) parameters; the limit is \(RunConfig.Limits.maxParameters)"
                    )
                ])
            }
            if let configValidator {
                let problems = configValidator(config, architecture)
                if !problems.isEmpty { throw RunConfigError(problems: problems) }
            }
        } catch {
            throw .invalid(error)
        }
        let id = UUID().uuidString.lowercased()
        do {
            guard try registry.create(id: id, config: config, idempotencyKey: idempotencyKey) else {
                // Lost a race with the same key: answer with the winner.
                guard let key = idempotencyKey, let existing = try registry.id(forIdempotencyKey: key),
                    let record = try registry.run(existing)
                else { throw RunSubmissionError.storage("idempotency key conflict") }
                return record
            }
            sink.runStatusChanged(id, status: .queued, epoch: 0, error: nil)
            try state.withLock { (state: inout SchedulerState) throws in
                state.entries[id] = Entry(status: .queued, config: config, control: makeControl(id), dataset: dataset)
                state.waiting.append(id)
                dispatch(&state)
            }
            guard let record = try registry.run(id) else { throw RunSubmissionError.storage("run \(id) vanished") }
            return record
        } catch let error as RunSubmissionError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
    }

    public func run(_ id: String) throws -> RunRecord? { try registry.run(id) }

    /// Records a status and announces it to the sinks (the bus sink publishes it: what SSE
    /// clients see as `run` events, whichever process trains the run).
    private func setStatus(_ id: String, _ status: RunStatus, error: String? = nil) throws {
        try registry.setStatus(id, status, error: error)
        sink.runStatusChanged(id, status: status, epoch: (try? registry.run(id))?.epoch ?? 0, error: error)
    }

    public func list(status: RunStatus?, limit: Int, cursor: Int64?) throws -> (records: [RunRecord], nextCursor: Int64?) {
        let page = try registry.list(status: status, before: cursor, limit: limit)
        return (page.records, page.more ? page.lastSeq : nil)
    }

    public func metrics(_ id: String) throws -> RunMetrics? {
        guard let record = try registry.run(id) else { return nil }
        return RunMetrics(runId: id, status: record.status, epochs: try registry.epochs(id), events: try registry.events(id))
    }

    /// queued or running → paused. A running trainer parks at its next batch and gives its
    /// slot to the next queued run.
    public func pause(_ id: String) throws -> RunRecord {
        try change(id) { (state: inout SchedulerState, entry: inout Entry) throws(RunControlError) in
            switch entry.status {
            case .queued:
                state.waiting.removeAll { $0 == id }
            case .running:
                entry.control.post(.pause)
            default:
                throw .conflict("run \(id) is \(entry.status.rawValue); only a queued or running run can be paused")
            }
            entry.status = .paused
        }
    }

    /// paused → running (if it still holds its slot, or one is free) or queued.
    public func resume(_ id: String) throws -> RunRecord {
        try change(id) { (state: inout SchedulerState, entry: inout Entry) throws(RunControlError) in
            guard entry.status == .paused else {
                throw .conflict("run \(id) is \(entry.status.rawValue); only a paused run can be resumed")
            }
            if entry.holdsSlot {
                entry.status = .running
                entry.control.post(.run)
            } else {
                entry.status = .queued
                state.waiting.append(id)
            }
        }
    }

    /// queued, running or paused → cancelled. The trainer ends at its next batch.
    public func stop(_ id: String) throws -> RunRecord {
        try change(id) { (state: inout SchedulerState, entry: inout Entry) throws(RunControlError) in
            guard !entry.status.isFinished else {
                throw .conflict("run \(id) is already \(entry.status.rawValue)")
            }
            state.waiting.removeAll { $0 == id }
            entry.status = .cancelled
            entry.control.post(.stop)
        }
    }

    /// Applies a transition under the scheduler lock, records it, then dispatches.
    private func change(_ id: String, _ body: (inout SchedulerState, inout Entry) throws(RunControlError) -> Void) throws -> RunRecord {
        try state.withLock { (state: inout SchedulerState) throws in
            guard var entry = state.entries[id] else {
                guard let record = try registry.run(id) else { throw RunControlError.notFound("no run \(id)") }
                // Known but not active here: it finished.
                throw RunControlError.conflict("run \(id) is already \(record.status.rawValue)")
            }
            try body(&state, &entry)
            if entry.status == .cancelled && !entry.started {
                state.entries[id] = nil
            } else {
                state.entries[id] = entry
            }
            try setStatus(id, entry.status)
            if entry.status == .cancelled {
                sink.event(
                    TrainingEvent(
                        runId: id, epoch: (try? registry.run(id))?.epoch ?? 0, kind: .runCompleted, level: .info,
                        message: "run cancelled", attributes: ["status": "cancelled"]))
            }
            dispatch(&state)
        }
        guard let record = try registry.run(id) else { throw RunControlError.notFound("no run \(id)") }
        return record
    }

    // MARK: - Scheduling

    private func makeControl(_ id: String) -> RunControl {
        RunControl(onPark: { [weak self] in self?.trainerParked(id) })
    }

    /// Gives free slots to waiting runs (called with the lock held).
    private func dispatch(_ state: inout SchedulerState) {
        while !state.shuttingDown, state.busySlots < options.maxConcurrentRuns, !state.waiting.isEmpty {
            let id = state.waiting.removeFirst()
            guard var entry = state.entries[id], entry.status == .queued else { continue }
            entry.status = .running
            entry.holdsSlot = true
            state.busySlots += 1
            do { try setStatus(id, .running) } catch {
                logger.error("cannot record a status", metadata: ["run": "\(id)", "error": "\(error)"])
            }
            if entry.started {
                entry.control.post(.run)
            } else {
                entry.started = true
                launch(id: id, config: entry.config, dataset: entry.dataset, control: entry.control)
                entry.dataset = nil
            }
            state.entries[id] = entry
        }
    }

    private func trainerParked(_ id: String) {
        state.withLock { state in
            guard var entry = state.entries[id], entry.status == .paused, entry.holdsSlot else { return }
            entry.holdsSlot = false
            state.busySlots -= 1
            state.entries[id] = entry
            dispatch(&state)
        }
    }

    private func launch(id: String, config: RunConfig, dataset: Dataset?, control: RunControl) {
        workers.enter()
        let thread = Thread { [self] in
            defer { workers.leave() }
            let outcome = train(id: id, config: config, dataset: dataset, control: control)
            finished(id, outcome)
        }
        thread.name = "tolaria-\(id.prefix(8))"
        thread.stackSize = 4 << 20
        thread.start()
    }

    /// The training thread's whole job.
    private func train(id: String, config: RunConfig, dataset: Dataset?, control: RunControl) -> Result<TrainingOutcome, any Error> {
        do {
            let data = try dataset ?? loader.load(config.dataset, runSeed: config.seed)
            let split = DataSplit(
                data, validationFraction: config.dataset.validationFraction, seed: config.seed,
                scaling: config.dataset.effectiveScaling)
            let store = CheckpointStore(directory: options.directory + "/runs/" + id, keep: config.keepCheckpoints)
            let trainer = Trainer(
                runId: id, config: config, split: split, checkpoints: store, sink: sink,
                controller: controllerFactory(id, config), control: control)
            if let epoch = try trainer.resumeFromCheckpoint(), epoch > 0 {
                try registry.resumed(id, atEpoch: epoch)
                sink.event(
                    TrainingEvent(
                        runId: id, epoch: epoch, kind: .resumed, level: .info,
                        message: "resumed from the checkpoint of epoch \(epoch)", attributes: ["epoch": "\(epoch)"]))
            }
            return .success(try trainer.run())
        } catch {
            return .failure(error)
        }
    }

    private func finished(_ id: String, _ outcome: Result<TrainingOutcome, any Error>) {
        state.withLock { state in
            guard var entry = state.entries[id] else { return }
            if entry.holdsSlot {
                entry.holdsSlot = false
                state.busySlots -= 1
            }
            var final: RunStatus?
            var failure: String?
            switch outcome {
            case .success(.completed), .success(.stoppedByController):
                final = entry.status == .cancelled ? nil : .succeeded
            case .success(.cancelled):
                final = nil
            case .success(.suspended):
                final = nil  // left queued/running/paused in the registry: the next start picks it up
            case .failure(let error):
                if entry.status != .cancelled {
                    final = .failed
                    failure = "\(error)"
                }
            }
            state.entries[id] = nil
            if let final {
                do { try setStatus(id, final, error: failure) } catch {
                    logger.error("cannot record a status", metadata: ["run": "\(id)", "error": "\(error)"])
                }
                let epoch = (try? registry.run(id))?.epoch ?? 0
                if final == .failed {
                    sink.event(TrainingEvent(runId: id, epoch: epoch, kind: .runFailed, level: .error, message: failure ?? "failed"))
                } else {
                    sink.event(
                        TrainingEvent(
                            runId: id, epoch: epoch, kind: .runCompleted, level: .info, message: "run succeeded",
                            attributes: ["status": final.rawValue]))
                }
            }
            dispatch(&state)
        }
    }
}
