import Foundation
import Karn
import Synchronization
import Urza

import enum Leyline.RFC3339

/// A request-pipeline compile (06 §1.4, §12) as the API reports it.
public struct CompileJob: Sendable, Encodable, Equatable {
    public enum Status: String, Sendable, Codable { case queued, running, succeeded, failed }

    public var jobId: String
    public var blueprintId: String
    public var parameters: [String: Double]
    public var trainingRunId: String?
    public var status: Status
    public var attempts: Int
    public var error: String?
    public var errorClass: String?
    public var errorCode: String?
    /// Set on success: Urza's stored artifact.
    public var artifactSha256: String?
    public var validationStatus: String?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
}

/// What an `esper worker` reports about a compile job it took (a `jobs.records` entry with
/// `compile_job`).
public struct CompileJobRecord: Sendable, Codable, Equatable {
    public var compileJob: String
    public var worker: String
    public var state: CompileJob.Status
    /// Succeeded: the artifact it uploaded (`PUT /api/v1/urza/artifacts/{id}`).
    public var artifactSha256: String?
    public var attempts: Int?
    public var error: String?
    public var errorClass: String?
    public var errorCode: String?

    public init(
        compileJob: String, worker: String, state: CompileJob.Status, artifactSha256: String? = nil, attempts: Int? = nil,
        error: String? = nil, errorClass: String? = nil, errorCode: String? = nil
    ) {
        self.compileJob = compileJob
        self.worker = worker
        self.state = state
        self.artifactSha256 = artifactSha256
        self.attempts = attempts
        self.error = error
        self.errorClass = errorClass
        self.errorCode = errorCode
    }
}

/// The request pipeline: validate synchronously (so bad requests are answered at once), then
/// compile and store on the shared workers. Jobs live in memory (the most recent
/// `retainedJobs`); an interrupted one survives a restart through its compiler WAL, which the
/// forge replays with the request's parameters.
public final class CompileJobs: Sendable {
    static let retainedJobs = 1000

    let catalog: KarnCatalog
    let compiler: TezzeretCompiler
    let urza: UrzaLibrary
    let scheduler: CompileScheduler
    let telemetry: any BlueprintTelemetry

    private struct State {
        var jobs: [String: CompileJob] = [:]
        var order: [String] = []
        var idempotency: [String: String] = [:]
        /// Requests of jobs waiting on the job queue (`jobs.compile`) for a worker slot.
        var requests: [String: CompileRequest] = [:]
        var dispatch: (@Sendable (String) throws -> Void)?
    }

    private let state = Mutex(State())

    init(
        catalog: KarnCatalog, compiler: TezzeretCompiler, urza: UrzaLibrary, scheduler: CompileScheduler,
        telemetry: any BlueprintTelemetry
    ) {
        self.catalog = catalog
        self.compiler = compiler
        self.urza = urza
        self.scheduler = scheduler
        self.telemetry = telemetry
    }

    /// From now on compiles are put on the job queue by id (`jobs.compile`) and run when a
    /// worker slot takes them (`execute`), instead of straight on the compile scheduler.
    public func route(through dispatch: @escaping @Sendable (String) throws -> Void) {
        state.withLock { $0.dispatch = dispatch }
    }

    /// Runs a queued job's compile on the compile scheduler the forge shares (so two
    /// compiles of one blueprint never overlap and each uses its own compiler WAL) and waits
    /// for it. False when the job is unknown (e.g. enqueued before a restart: jobs live in
    /// memory) or no longer queued (a duplicate entry), or the scheduler stopped first.
    @discardableResult
    public func execute(_ jobId: String) -> Bool {
        guard
            let request = state.withLock({ s -> CompileRequest? in
                guard s.jobs[jobId]?.status == .queued else { return nil }
                return s.requests.removeValue(forKey: jobId)
            })
        else { return false }
        let done = DispatchSemaphore(value: 0)
        scheduler.submit(request.blueprintId) { [self] slot in
            run(request, slot: slot)
            done.signal()
        }
        while done.wait(timeout: .now() + 0.5) == .timedOut {
            if scheduler.isStopping && job(jobId)?.status == .queued { return false }
        }
        return true
    }

    /// Applies what an `esper worker` reports about a job it compiles (`jobs.records`):
    /// running, then succeeded (its artifact uploaded into Urza and verified there) or
    /// failed. Idempotent: a finished job keeps its outcome; unknown jobs are ignored.
    public func apply(_ record: CompileJobRecord) {
        let stored = record.state == .succeeded ? urza.get(job(record.compileJob)?.blueprintId ?? "") : nil
        state.withLock { $0.requests[record.compileJob] = nil }
        update(record.compileJob) { job in
            guard job.status == .queued || job.status == .running else { return }
            switch record.state {
            case .queued:
                return
            case .running:
                job.status = .running
                job.startedAt = job.startedAt ?? RFC3339.now()
            case .succeeded:
                guard let sha = record.artifactSha256, stored?.artifactSHA256 == sha else {
                    job.status = .failed
                    job.error = "worker \(record.worker) reported an artifact Urza does not hold"
                    job.finishedAt = RFC3339.now()
                    return
                }
                job.status = .succeeded
                job.attempts = record.attempts ?? job.attempts
                job.artifactSha256 = sha
                job.validationStatus = stored?.validationStatus
                job.finishedAt = RFC3339.now()
            case .failed:
                job.status = .failed
                job.attempts = record.attempts ?? job.attempts
                job.error = record.error ?? "failed on worker \(record.worker)"
                job.errorClass = record.errorClass
                job.errorCode = record.errorCode
                job.finishedAt = RFC3339.now()
            }
        }
    }

    /// Marks a queued job failed (its queue entry could not be written or was dead-lettered).
    public func fail(_ jobId: String, reason: String) {
        state.withLock { $0.requests[jobId] = nil }
        update(jobId) { job in
            guard job.status == .queued || job.status == .running else { return }
            job.status = .failed
            job.error = reason
            job.finishedAt = RFC3339.now()
        }
    }

    /// Validates and queues a compile. The same `idempotencyKey` returns the first job
    /// (`created` false). Throws the validation error (unknown id, parameters, shape), or
    /// `queueUnavailable` when the job queue (Redis) refuses the job.
    public func submit(
        blueprintId: String, parameters: [String: Double], trainingRunId: String?,
        idempotencyKey: String?
    ) throws(CompileError) -> (job: CompileJob, created: Bool) {
        if let key = idempotencyKey, let existing = state.withLock({ s in s.idempotency[key].flatMap { s.jobs[$0] } }) {
            return (existing, false)
        }
        let jobId = "job-" + (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let request = CompileRequest(
            blueprintId: blueprintId, parameters: parameters, origin: .request, jobId: jobId,
            trainingRunId: trainingRunId)
        try compiler.preflight(request)
        let job = CompileJob(
            jobId: jobId, blueprintId: blueprintId, parameters: parameters, trainingRunId: trainingRunId,
            status: .queued, attempts: 0, createdAt: RFC3339.now())
        let winner: CompileJob? = state.withLock { s in
            if let key = idempotencyKey, let existing = s.idempotency[key].flatMap({ s.jobs[$0] }) { return existing }
            s.jobs[jobId] = job
            s.order.append(jobId)
            if let key = idempotencyKey { s.idempotency[key] = jobId }
            while s.order.count > CompileJobs.retainedJobs {
                let dropped = s.order.removeFirst()
                s.jobs[dropped] = nil
                s.requests[dropped] = nil
                s.idempotency = s.idempotency.filter { $0.value != dropped }
            }
            return nil
        }
        if let winner { return (winner, false) }
        telemetry.event(
            "tezzeret", "job_queued", .info,
            ["job_id": jobId, "blueprint_id": blueprintId, "training_run_id": trainingRunId ?? ""])
        if let dispatch = state.withLock({ s -> (@Sendable (String) throws -> Void)? in
            if s.dispatch != nil { s.requests[jobId] = request }
            return s.dispatch
        }) {
            do { try dispatch(jobId) } catch {
                // Not on the queue: fail it now rather than leave a job nobody will take, and
                // tell the caller (503) instead of answering 202 for work that will not run.
                fail(jobId, reason: "could not enqueue the compile: \(error)")
                throw CompileError(blueprintId, .queueUnavailable("\(error)"))
            }
        } else {
            scheduler.submit(blueprintId) { [self] slot in run(request, slot: slot) }
        }
        return (job, true)
    }

    public func job(_ id: String) -> CompileJob? { state.withLock { $0.jobs[id] } }

    private func run(_ request: CompileRequest, slot: Int) {
        update(request.jobId) {
            $0.status = .running; $0.startedAt = RFC3339.now()
        }
        do throws(CompileError) {
            let result = try compiler.compile(request, slot: slot)
            guard let template = catalog.template(request.blueprintId) else { throw CompileError(request.blueprintId, .notFound) }
            let record: UrzaRecord
            do {
                record = try urza.save(descriptor: template.descriptor, artifactPath: result.artifactPath)
            } catch {
                throw CompileError(request.blueprintId, .io("Urza save: \(error)"), attempts: result.attempts)
            }
            try? FileManager.default.removeItem(atPath: result.artifactPath)
            update(request.jobId) { job in
                job.status = .succeeded
                job.attempts = result.attempts
                job.artifactSha256 = record.artifactSHA256
                job.validationStatus = record.validationStatus
                job.finishedAt = RFC3339.now()
            }
        } catch {
            update(request.jobId) { job in
                job.status = .failed
                job.attempts = error.attempts
                job.error = error.description
                job.errorClass = error.errorClass.rawValue
                job.errorCode = error.code
                job.finishedAt = RFC3339.now()
            }
        }
    }

    private func update(_ id: String, _ change: (inout CompileJob) -> Void) {
        state.withLock { s in
            if var job = s.jobs[id] {
                change(&job)
                s.jobs[id] = job
            }
        }
    }
}
