public import EsperJSON
public import Logging
public import Oona

/// Runs request-pipeline compiles (`POST /api/v1/tezzeret/jobs`) from `jobs.compile` on a
/// worker slot of the server: the job (`{"job_id"}`) names a queued compile in Tezzeret's job
/// table; the slot holds its lease (`compile-<id>`) and runs it through `CompileJobs.execute`,
/// which hands it to the compile scheduler the forge shares (one compile per blueprint, one
/// compiler WAL per scheduler slot) and waits; the artifact goes to the server's Urza. Only
/// the server registers this kind (the job table and Urza are its own).
public struct CompileJobHandler<Worker: JobWorker>: JobHandler {
    public let kind = JobKind.compile
    let compiles: CompileJobs
    let logger: Logger

    public init(compiles: CompileJobs, logger: Logger) {
        self.compiles = compiles
        self.logger = logger
    }

    /// `{"job_id", "blueprint_id", "parameters", "training_run_id"}`: the id for the server's
    /// own slot, the request for an `esper worker` (`RemoteCompileJobHandler`).
    public static func job(id: String, _ job: CompileJob? = nil) -> JSONValue {
        var object: [String: JSONValue] = ["job_id": .string(id)]
        if let job {
            object["blueprint_id"] = .string(job.blueprintId)
            object["parameters"] = .object(job.parameters.mapValues { .double($0) })
            if let run = job.trainingRunId { object["training_run_id"] = .string(run) }
        }
        return .object(object)
    }

    public func handle(_ context: JobContext, worker: Worker) -> JobDisposition {
        guard let id = context.job.objectValue?["job_id"]?.stringValue, id.utf8.count <= 64 else {
            logger.error("unreadable compile job dropped", metadata: ["entry": "\(context.entryId)"])
            return .done
        }
        return worker.holding(context, runId: "compile-" + id) {
            if !compiles.execute(id) {
                logger.info("compile job skipped (unknown or no longer queued)", metadata: ["job": "\(id)"])
            }
            return .done
        }
    }

    public func deadLettered(job: JSONValue?, reason: String, worker: Worker) {
        guard let id = job?.objectValue?["job_id"]?.stringValue else { return }
        logger.error("compile job dead-lettered", metadata: ["job": "\(id)", "reason": "\(reason)"])
        compiles.fail(id, reason: "the job was dead-lettered (\(reason))")
    }
}
