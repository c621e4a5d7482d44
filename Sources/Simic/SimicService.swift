// Simic: the offline policy trainer. Field reports (Tamiyo's durable log and the Oona normal
// stream) feed a bounded replay buffer; training jobs run PPO on Tamiyo's own network over
// the C kernels, gate the result with the validation harness, and publish validated policies
// (stored, checksummed, announced on the policy stream) for Tamiyo to adopt at its next epoch
// boundary. This file is the process-wide service: job submission, the thread runner, the
// field-report consumer.
import EsperStorage
import Foundation
public import Leyline
public import Logging
public import Oona
import Synchronization
public import TamiyoNetwork

public struct SimicSettings: Sendable {
    /// `<data>/simic`: simic.db (jobs, policies), policies/<version>.bin.
    public var directory: String
    public var bufferCapacity = 1024
    public var replayTTLHours = 24.0

    public init(directory: String) { self.directory = directory }
}

public final class SimicService: LongRunningService {
    public let name = "simic"
    public let settings: SimicSettings
    public let buffer: FieldReportReplayBuffer
    public let store: SimicStore
    public let publisher: PolicyPublisher
    let bus: OonaClient?
    let logger: Logger
    /// Tamiyo's current weights (what a job starts from).
    let initialPolicy: @Sendable () -> PolicyWeights
    /// The durable field-report log (re-read before each job; the buffer dedupes).
    let reportSource: @Sendable () -> [FieldReport]
    /// Stores a report read from the normal stream in the durable log before it enters the
    /// buffer (a refusal leaves the message pending); nil: the buffer only.
    let persistReport: (@Sendable (FieldReport) throws -> Bool)?
    /// Puts a queued job's id on the job queue (`jobs.policy`, taken by a worker slot that
    /// calls `execute`). Nil: the service's own runner thread runs jobs (tests of Simic alone).
    let dispatch: (@Sendable (String) throws -> Void)?
    private let state = Mutex(RunnerState())
    private let wake = DispatchSemaphore(value: 0)
    /// Field reports from the normal stream in Simic's own group (nil without a bus).
    private let reportSubscription: OonaSubscription?

    struct RunnerState {
        var queue: [String] = []
        var running = false
        /// Signalled when the runner thread ends (nil: no runner thread).
        var runnerDone: DispatchSemaphore?
        var rejected = 0
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The job queue (Redis) did not take a submitted job; the job is recorded as failed.
    public struct QueueUnavailable: Error, CustomStringConvertible {
        public let description: String
    }

    /// `announce` defaults to the bus's policy stream; without a bus a policy is stored but
    /// not announced.
    public init(
        settings: SimicSettings, bus: OonaClient?, logger: Logger, initialPolicy: @escaping @Sendable () -> PolicyWeights,
        reportSource: @escaping @Sendable () -> [FieldReport], persistReport: (@Sendable (FieldReport) throws -> Bool)? = nil,
        announce: (@Sendable (PolicyUpdate) throws -> Void)? = nil, dispatch: (@Sendable (String) throws -> Void)? = nil
    ) throws(OpenError) {
        self.persistReport = persistReport
        self.settings = settings
        self.dispatch = dispatch
        self.bus = bus
        self.logger = logger
        reportSubscription = bus.map { bus in
            OonaSubscription(
                client: bus,
                options: .init(
                    streams: [.normal], group: SimicService.group, consumer: "simic-" + bus.configuration.consumerName, count: 50,
                    threadName: "esper-simic-reports"))
        }
        self.initialPolicy = initialPolicy
        self.reportSource = reportSource
        buffer = FieldReportReplayBuffer(capacity: settings.bufferCapacity, ttlHours: settings.replayTTLHours)
        do {
            try AtomicFile.createDirectory(settings.directory)
            store = try SimicStore(path: settings.directory + "/simic.db")
            let announcer: @Sendable (PolicyUpdate) throws -> Void =
                announce ?? { update in
                    guard let bus else { throw OpenError(description: "no bus: the policy is stored but not announced") }
                    _ = try bus.publishPolicyUpdate(update)
                }
            publisher = try PolicyPublisher(directory: settings.directory + "/policies", store: store, announce: announcer)
        } catch {
            throw OpenError(description: "cannot open Simic's store in \(settings.directory): \(error)")
        }
    }

    // MARK: - Jobs

    /// Queues a job (settings already validated by the caller; checked again here).
    public func submit(_ settings: SimicTrainingSettings) throws -> SimicJob {
        let problems = settings.problems()
        guard problems.isEmpty else { throw OpenError(description: problems.map { "\($0.field): \($0.message)" }.joined(separator: "; ")) }
        let job = SimicJob(
            id: UUID().uuidString.lowercased(), state: .queued, settings: settings, createdAt: LeylineTimestamp.now().rfc3339)
        try store.save(job)
        if let dispatch {
            do { try dispatch(job.id) } catch {
                // Not on the queue: fail it now rather than leave a job nobody will take.
                var failed = job
                failed.state = .failed
                failed.error = "could not enqueue the job: \(error)"
                failed.finishedAt = LeylineTimestamp.now().rfc3339
                try? store.save(failed)
                throw QueueUnavailable(description: failed.error ?? "")
            }
        } else {
            state.withLock { $0.queue.append(job.id) }
            wake.signal()
        }
        return job
    }

    public func job(_ id: String) throws -> SimicJob? { try store.job(id) }

    /// Runs one job now on the calling thread (the runner thread, a test, or a worker).
    @discardableResult
    public func execute(_ id: String) -> SimicJob? {
        guard var job = try? store.job(id), job.state == .queued else { return nil }
        job.state = .running
        job.startedAt = LeylineTimestamp.now().rfc3339
        try? store.save(job)
        refreshBuffer()
        do {
            let result = try SimicJobRunner.run(
                job, buffer: buffer, initial: initialPolicy(), publisher: publisher, telemetry: { self.publish($0) })
            job.result = result
            job.state = result.validation.passed ? .succeeded : .rejected
            if !result.validation.passed {
                logger.warning(
                    "Simic policy validation failed",
                    metadata: ["job": "\(id)", "reasons": "\(result.validation.reasons.joined(separator: "; "))"])
            }
        } catch {
            job.state = .failed
            job.error = "\(error)"
            logger.error("simic job failed", metadata: ["job": "\(id)", "error": "\(error)"])
        }
        job.finishedAt = LeylineTimestamp.now().rfc3339
        try? store.save(job)
        return job
    }

    /// Applies a remote worker's record (idempotent: a job already finished keeps its outcome,
    /// so a record delivered twice publishes once). A passing candidate is verified against the
    /// result's checksum and Tamiyo's network before it is stored and announced; one that does
    /// not decode fails the job.
    public func apply(_ record: PolicyJobRecord) throws {
        guard var job = try store.job(record.policyJob), job.state == .queued || job.state == .running else { return }
        let now = LeylineTimestamp.now().rfc3339
        switch record.state {
        case .queued:
            return
        case .running:
            guard job.state == .queued else { return }
            job.state = .running
            job.startedAt = now
        case .failed:
            job.state = .failed
            job.error = record.error ?? "failed on worker \(record.worker)"
            job.finishedAt = now
        case .succeeded, .rejected:
            guard var result = record.result else {
                job.state = .failed
                job.error = "worker \(record.worker) sent an outcome without a result"
                job.finishedAt = now
                break
            }
            job.state = result.validation.passed ? .succeeded : .rejected
            if result.validation.passed && job.settings.publish {
                do {
                    guard let text = record.weights, let data = Data(base64Encoded: text) else {
                        throw PolicyWeightsError("no candidate weights in the record")
                    }
                    let candidate = try PolicyWeights(decoding: Array(data), expecting: initialPolicy().config)
                    guard candidate.sha256 == result.weightsSha256 else {
                        throw PolicyWeightsError("candidate checksum \(candidate.sha256) is not the result's \(result.weightsSha256)")
                    }
                    result.apply(
                        try publisher.publish(candidate.values, config: candidate.config, jobId: job.id, validation: result.validation))
                } catch {
                    job.state = .failed
                    job.error = "the policy from worker \(record.worker) was not published: \(error)"
                }
            }
            job.result = result
            job.finishedAt = now
        }
        try store.save(job)
    }

    /// Marks an unfinished job failed (its queue entry was dead-lettered).
    public func fail(_ id: String, reason: String) {
        guard var job = try? store.job(id), job.state == .queued || job.state == .running else { return }
        job.state = .failed
        job.error = reason
        job.finishedAt = LeylineTimestamp.now().rfc3339
        try? store.save(job)
    }

    /// Reads the field-report log into the buffer (duplicates are ignored).
    public func refreshBuffer() {
        buffer.extend(reportSource(), now: Date().timeIntervalSince1970)
    }

    // MARK: - Lifecycle

    /// Jobs a restart interrupted are marked failed; queued ones run again (enqueued again with
    /// a dispatcher: a duplicate entry finds its job no longer queued and is skipped). Starts
    /// the runner thread (without a dispatcher) and, with a bus, the field-report consumer.
    public func start() {
        let started = state.withLock { s -> Bool in
            guard !s.running else { return false }
            s.running = true
            return true
        }
        guard started else { return }
        for var job in (try? store.jobs(in: [.running])) ?? [] {
            job.state = .failed
            job.error = "interrupted by a restart"
            job.finishedAt = LeylineTimestamp.now().rfc3339
            try? store.save(job)
        }
        let queued = ((try? store.jobs(in: [.queued])) ?? []).map(\.id)
        refreshBuffer()
        if let dispatch {
            for id in queued {
                do { try dispatch(id) } catch {
                    logger.warning(
                        "queued Simic job not re-enqueued (Redis?); it stays queued", metadata: ["job": "\(id)", "error": "\(error)"])
                }
            }
        } else {
            let done = DispatchSemaphore(value: 0)
            state.withLock {
                $0.queue = queued + $0.queue
                $0.runnerDone = done
            }
            let runner = Thread { [self] in
                defer { done.signal() }
                runLoop()
            }
            runner.name = "esper-simic-runner"
            runner.start()
        }
        reportSubscription?.start { [self] delivery in try ingest(delivery.message) }
    }

    /// Stops the report consumer and the runner (after the job in progress) and waits for both.
    public func stop() {
        state.withLock { $0.running = false }
        wake.signal()
        reportSubscription?.stop()
        state.withLock { state in
            defer { state.runnerDone = nil }; return state.runnerDone
        }?.wait()
    }

    private var running: Bool { state.withLock { $0.running } }

    private func runLoop() {
        while running {
            let next = state.withLock { s -> String? in s.queue.isEmpty ? nil : s.queue.removeFirst() }
            if let next {
                execute(next)
            } else {
                _ = wake.wait(timeout: .now() + 0.25)
            }
        }
    }

    // MARK: - Bus

    /// Consumer group Simic reads the normal stream with.
    public static let group = "simic"

    /// A bus message from the normal stream: field reports go into the buffer; system-state
    /// packets and commands (the stream's other designed traffic) are skipped; anything else
    /// is refused (`OonaRejection` → dead-lettered).
    public func ingest(_ message: BusMessage) throws {
        switch message {
        case .fieldReport(let report):
            // A report the log already holds (a run's worker sent it as a record too, or a
            // resumed run made it again) is in the buffer already, or was on purpose evicted.
            if let persistReport, try !persistReport(report) {
                buffer.noteDuplicate()
                return
            }
            buffer.add(report, now: Date().timeIntervalSince1970)
        case .systemState, .adaptationCommand:
            return
        default:
            state.withLock { $0.rejected += 1 }
            throw OonaRejection(detail: "simic takes field reports from the normal stream, not \(message.messageType.name)")
        }
    }

    private func publish(_ packet: TelemetryPacket) {
        guard let bus else { return }
        do { _ = try bus.publishTelemetry(packet) } catch { logger.debug("simic telemetry not published", metadata: ["error": "\(error)"]) }
    }

    /// What `GET /api/v1/simic/jobs` style summaries show about the buffer.
    public struct BufferInfo: Sendable, Encodable {
        public var size: Int
        public var capacity: Int
        public var ttlHours: Double
        public var duplicates: Int
        public var evicted: Int
        public var rejected: Int
    }

    public var bufferInfo: BufferInfo {
        let s = buffer.statistics
        return BufferInfo(
            size: s.size, capacity: buffer.capacity, ttlHours: buffer.ttlSeconds / 3600, duplicates: s.duplicates, evicted: s.evicted,
            rejected: state.withLock { $0.rejected })
    }
}

extension SimicService {
    /// The report consumer's health (the runner has none to report).
    public var health: ServiceHealth {
        reportSubscription?.health ?? ServiceHealth(healthy: true, detail: "no bus: reports come from the field-report log only")
    }
}
