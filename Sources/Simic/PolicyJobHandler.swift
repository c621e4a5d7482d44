public import EsperJSON
public import Logging
public import Oona

/// Runs Simic's policy-training jobs from `jobs.policy` on a worker slot of the server: the
/// job (`{"job_id"}`) names a queued job in Simic's store; the slot holds the job's lease
/// (`simic-<id>`: one live holder per job, kept by the worker's heartbeat), trains it through
/// `SimicService.execute` — the replay buffer, Tamiyo's current weights, the policy store and
/// the announcement on the policy stream are the server's — and records the outcome in
/// Simic's store, which `GET /api/v1/simic/jobs/{id}` reads. A job no longer queued (a
/// duplicate entry, or one a restart failed) is acknowledged and skipped.
public struct PolicyJobHandler<Worker: JobWorker>: JobHandler {
    public let kind = JobKind.policy
    let simic: SimicService
    let logger: Logger

    public init(simic: SimicService, logger: Logger) {
        self.simic = simic
        self.logger = logger
    }

    public static func job(id: String) -> JSONValue { .object(["job_id": .string(id)]) }

    public func handle(_ context: JobContext, worker: Worker) -> JobDisposition {
        guard let id = context.job.objectValue?["job_id"]?.stringValue, id.utf8.count <= 64 else {
            logger.error("unreadable policy job dropped", metadata: ["entry": "\(context.entryId)"])
            return .done
        }
        return worker.holding(context, runId: "simic-" + id) {
            logger.info("policy job taken", metadata: ["job": "\(id)", "worker": "\(context.consumer)"])
            if let job = simic.execute(id) {
                logger.info("policy job finished", metadata: ["job": "\(id)", "state": "\(job.state.rawValue)"])
            }
            return .done
        }
    }

    public func deadLettered(job: JSONValue?, reason: String, worker: Worker) {
        guard let id = job?.objectValue?["job_id"]?.stringValue else { return }
        logger.error("policy job dead-lettered", metadata: ["job": "\(id)", "reason": "\(reason)"])
        simic.fail(id, reason: "the job was dead-lettered (\(reason)): it ended the workers that took it")
    }
}
