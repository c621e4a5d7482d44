public import EsperJSON
import Foundation
import Leyline
public import Logging
public import Oona
public import Tolaria

/// Trains runs from `jobs.training`: takes the run's lease, checks what the user wants of
/// it (a paused, stopped or finished run's job is skipped), trains from the shared
/// checkpoint directory — resuming where the last holder's checkpoint left off — and
/// reports every step as a run record. A job handed back at shutdown goes on the queue
/// again; one another worker took over is let go without a word.
public struct TrainingJobHandler: JobHandler {
    public typealias ControllerFactory = @Sendable (_ runId: String, _ config: RunConfig) -> any EpochController

    public let kind = JobKind.training
    let executor: RunExecutor
    let controllerFactory: ControllerFactory
    /// Where epochs also go besides the records and the bus: the log.
    let sinks: [any TrainingEventSink]
    let logger: Logger
    /// Readies the process for a run before it trains (an `esper worker` mirrors the server's
    /// kernel library for runs with a control policy); a throw fails the run with its reason.
    public typealias Preparation = @Sendable (_ config: RunConfig) throws -> Void
    let prepare: Preparation?

    public init(
        executor: RunExecutor, sinks: [any TrainingEventSink], logger: Logger, prepare: Preparation? = nil,
        controllerFactory: @escaping ControllerFactory = { _, _ in NoOpEpochController() }
    ) {
        self.executor = executor
        self.sinks = sinks
        self.logger = logger
        self.prepare = prepare
        self.controllerFactory = controllerFactory
    }

    public func handle(_ context: JobContext, worker: WorkerRuntime) -> JobDisposition {
        let busSink = BusTrainingSink(bus: worker.queue.bus, logger: logger)
        let job: RunJob
        do {
            job = try JanssonDecoder().decode(RunJob.self, from: context.job)
        } catch {
            if let runId = context.job.objectValue?["run_id"]?.stringValue {
                worker.records.publish(
                    RunJobRecord(
                        kind: .finished, runId: runId, worker: context.consumer, status: .failed, error: "unreadable job: \(error)"))
                worker.drainRecords()
            }
            logger.error("unreadable training job dropped", metadata: ["entry": "\(context.entryId)", "error": "\(error)"])
            return .done
        }
        if worker.isStopping { return .requeue(context.job) }
        let id = job.runId
        switch worker.take(context, runId: id) {
        case .lost:
            return .abandoned
        case .busy:
            // The run is alive on another worker: this job is a duplicate; the run is running.
            worker.records.publish(RunJobRecord(kind: .started, runId: id, worker: context.consumer))
            return .done
        case .held:
            break
        }
        let wanted: RunControlState?
        do {
            wanted = try worker.control(runId: id)
        } catch {
            worker.letGo(slot: context.slot)
            return .abandoned
        }
        switch wanted {
        case .run?:
            break
        case .stop?:
            worker.letGo(slot: context.slot)
            worker.records.publish(RunJobRecord(kind: .finished, runId: id, worker: context.consumer, status: .cancelled))
            worker.drainRecords()
            return .done
        case .pause?, nil:
            // Paused (a resume enqueues a new job) or over: nothing to do.
            worker.letGo(slot: context.slot)
            return .done
        }

        if let prepare {
            // The server may be restarting (its kernel library is what a worker mirrors): try
            // for a minute before the run fails with the reason.
            var failure: (any Error)?
            let deadline = ContinuousClock.now + .seconds(60)
            var wait = 0.5
            repeat {
                do {
                    try prepare(job.config)
                    failure = nil
                } catch {
                    failure = error
                    logger.warning("run not prepared yet; trying again", metadata: ["run": "\(id)", "error": "\(error)"])
                    Thread.sleep(forTimeInterval: wait)
                    wait = min(wait * 2, 5)
                }
            } while failure != nil && ContinuousClock.now < deadline && !worker.isStopping && !worker.lost(slot: context.slot)
            if failure != nil && worker.lost(slot: context.slot) {
                worker.letGo(slot: context.slot)
                return .abandoned
            }
            if failure != nil && worker.isStopping {
                worker.letGo(slot: context.slot)
                return .requeue(context.job)
            }
            if let error = failure {
                worker.letGo(slot: context.slot)
                worker.records.publish(
                    RunJobRecord(
                        kind: .finished, runId: id, worker: context.consumer, status: .failed,
                        error: "the worker could not prepare the run: \(error)"))
                worker.drainRecords()
                return .done
            }
        }
        let control = RunControl()
        worker.attach(control, slot: context.slot)
        let records = worker.records
        let name = context.consumer
        // Every record of this attempt says so: the server drops what a later attempt redoes.
        let attempt = JobAttempt(entryId: context.entryId, deliveries: context.deliveryCount).description
        records.publish(RunJobRecord(kind: .started, runId: id, worker: name))
        let restart = context.deliveryCount > 1 || job.reason == .requeued
        logger.info(
            "training job taken",
            metadata: ["run": "\(id)", "worker": "\(name)", "delivery": "\(context.deliveryCount)", "reason": "\(job.reason.rawValue)"])
        let outcome = executor.execute(
            runId: id, config: job.config,
            sink: FanOutTrainingSink([RecordSink(publisher: records, worker: name, attempt: attempt, bus: busSink)] + sinks),
            controller: { controllerFactory(id, job.config) }, control: control,
            onResume: { epoch in
                records.publish(RunJobRecord(kind: .resumed, runId: id, worker: name, epoch: epoch, restart: restart, attempt: attempt))
            })
        let lost = worker.lost(slot: context.slot)
        worker.letGo(slot: context.slot)
        if lost { return .abandoned }
        switch outcome {
        case .success(.completed), .success(.stoppedByController):
            records.publish(RunJobRecord(kind: .finished, runId: id, worker: name, status: .succeeded, attempt: attempt))
        case .success(.cancelled):
            records.publish(RunJobRecord(kind: .finished, runId: id, worker: name, status: .cancelled, attempt: attempt))
        case .success(.suspended):
            worker.drainRecords()
            if worker.isStopping {
                var again = job
                again.reason = .requeued
                if let value = try? JanssonEncoder().encodeValue(again) { return .requeue(value) }
                return .abandoned
            }
            return .done  // paused at an epoch boundary; a resume enqueues a new job
        case .failure(let error):
            records.publish(
                RunJobRecord(kind: .finished, runId: id, worker: name, status: .failed, error: "\(error)", attempt: attempt))
        }
        worker.drainRecords()
        return .done
    }

    public func deadLettered(job: JSONValue?, reason: String, worker: WorkerRuntime) {
        guard let runId = job?.objectValue?["run_id"]?.stringValue else { return }
        logger.error("training job dead-lettered; its run fails", metadata: ["run": "\(runId)", "reason": "\(reason)"])
        worker.records.publish(
            RunJobRecord(
                kind: .finished, runId: runId, worker: worker.id, status: .failed,
                error: "the run's job was dead-lettered (\(reason)): it ended the workers that took it"))
        worker.drainRecords()
    }
}
