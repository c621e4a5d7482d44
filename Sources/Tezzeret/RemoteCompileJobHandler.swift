public import EsperClient
public import EsperJSON
import EsperStorage
import Foundation
import Karn
public import Logging
public import Oona

/// Compile jobs (`jobs.compile`) on an `esper worker`: the job carries the request (blueprint,
/// parameters); the worker holds the job's lease (`compile-<id>`, as the server's slot does),
/// compiles with its own Tezzeret compiler (its own compiler WAL in `<data>/tezzeret`),
/// uploads the artifact into the server's Urza (`PUT /api/v1/urza/artifacts/{id}` with its
/// SHA-256 in `X-Esper-SHA256`, verified there before anything is replaced) and reports the
/// job's states as `CompileJobRecord`s on `jobs.records` — running, then succeeded with the
/// artifact's checksum or failed with the reason — which the server applies to its job table.
public struct RemoteCompileJobHandler<Worker: JobWorker>: JobHandler {
    public let kind = JobKind.compile
    let compiler: TezzeretCompiler
    let server: ServerClient
    /// Where the records go (`jobs.records`).
    let bus: OonaClient
    let logger: Logger

    public init(compiler: TezzeretCompiler, server: ServerClient, bus: OonaClient, logger: Logger) {
        self.compiler = compiler
        self.server = server
        self.bus = bus
        self.logger = logger
    }

    public func handle(_ context: JobContext, worker: Worker) -> JobDisposition {
        let object = context.job.objectValue ?? [:]
        guard let id = object["job_id"]?.stringValue, id.utf8.count <= 64 else {
            logger.error("unreadable compile job dropped", metadata: ["entry": "\(context.entryId)"])
            return .done
        }
        guard let blueprint = object["blueprint_id"]?.stringValue else {
            // A job from a server that does not send its request: only its own slot can run it.
            logger.error("compile job without its request dropped", metadata: ["job": "\(id)"])
            send(CompileJobRecord(compileJob: id, worker: worker.id, state: .failed, error: "the job carried no compile request"), worker)
            return .done
        }
        return worker.holding(context, runId: "compile-" + id) {
            let parameters = (object["parameters"]?.objectValue ?? [:]).compactMapValues(\.doubleValue)
            let request = CompileRequest(
                blueprintId: blueprint, parameters: parameters, origin: .request, jobId: id,
                trainingRunId: object["training_run_id"]?.stringValue)
            send(CompileJobRecord(compileJob: id, worker: worker.id, state: .running), worker)
            logger.info("compile job taken", metadata: ["job": "\(id)", "blueprint_id": "\(blueprint)"])
            do throws(CompileError) {
                let result = try compiler.compile(request, slot: context.slot)
                defer { try? FileManager.default.removeItem(atPath: result.artifactPath) }
                let sha = try upload(result, blueprint: blueprint)
                send(
                    CompileJobRecord(compileJob: id, worker: worker.id, state: .succeeded, artifactSha256: sha, attempts: result.attempts),
                    worker)
                logger.info("compile job finished; artifact uploaded", metadata: ["job": "\(id)", "sha256": "\(sha)"])
            } catch {
                send(
                    CompileJobRecord(
                        compileJob: id, worker: worker.id, state: .failed, attempts: error.attempts, error: error.description,
                        errorClass: error.errorClass.rawValue, errorCode: error.code), worker)
                logger.warning("compile job failed", metadata: ["job": "\(id)", "error": "\(error)"])
            }
            return .done
        }
    }

    /// PUTs the artifact with its checksum; the server's answer (201 stored, 200 already in
    /// force) or a `CompileError` naming the refusal.
    private func upload(_ result: CompileResult, blueprint: String) throws(CompileError) -> String {
        let bytes: [UInt8]
        do {
            guard let read = try AtomicFile.read(result.artifactPath) else { throw CompileError(blueprint, .io("artifact vanished")) }
            bytes = read
        } catch let error as CompileError {
            throw error
        } catch {
            throw CompileError(blueprint, .io("artifact unreadable: \(error)"))
        }
        let sha = Checksum.sha256Hex(bytes)
        do {
            let answer = try server.put(
                "/api/v1/urza/artifacts/\(blueprint)", body: bytes,
                headers: ["Content-Type": "application/octet-stream", "X-Esper-SHA256": sha])
            guard answer.status == 200 || answer.status == 201 else {
                throw CompileError(blueprint, .io("the server refused the artifact (HTTP \(answer.status)): \(answer.detail.prefix(300))"))
            }
        } catch let error as CompileError {
            throw error
        } catch {
            throw CompileError(blueprint, .io("upload: \(error)"))
        }
        return sha
    }

    /// Publishes a record on `jobs.records`, retrying for 30 s while Redis is away.
    private func send(_ record: CompileJobRecord, _ worker: Worker) {
        do {
            try bus.publishJobRecord(record, attributes: ["compile_job_id": record.compileJob]) { worker.isStopping }
        } catch {
            logger.error("compile job record not published", metadata: ["job": "\(record.compileJob)", "error": "\(error)"])
        }
    }

    public func deadLettered(job: JSONValue?, reason: String, worker: Worker) {
        guard let id = job?.objectValue?["job_id"]?.stringValue else { return }
        logger.error("compile job dead-lettered", metadata: ["job": "\(id)", "reason": "\(reason)"])
        send(CompileJobRecord(compileJob: id, worker: worker.id, state: .failed, error: "the job was dead-lettered (\(reason))"), worker)
    }
}
