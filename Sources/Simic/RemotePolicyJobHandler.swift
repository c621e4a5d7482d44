public import EsperClient
public import EsperJSON
import EsperStorage
import Foundation
import Leyline
public import Logging
public import Oona
import TamiyoNetwork

/// Runs Simic's policy-training jobs from `jobs.policy` on an `esper worker`, away from the
/// server's stores: the slot holds the job's lease (`simic-<id>`, as the server's own
/// `PolicyJobHandler`), reads the job (`GET /api/v1/simic/jobs/{id}`), Tamiyo's current
/// weights (`GET /api/v1/tamiyo/policy/weights`, SHA-256 checked against `X-Esper-SHA256`)
/// and the replay buffer from the durable field-report log (`GET
/// /api/v1/tamiyo/field-reports?trajectory=true`, every page within the replay TTL), trains
/// with `SimicJobRunner.train` — the same code as on the server — and sends the outcome back
/// as `PolicyJobRecord`s on `jobs.records`: the server marks the job, then numbers, stores and
/// announces a passing policy on the policy stream (Tamiyo adopts it from there).
public struct RemotePolicyJobHandler<Worker: JobWorker>: JobHandler {
    public let kind = JobKind.policy
    let server: ServerClient
    let bus: OonaClient
    let bufferCapacity: Int
    let replayTTLHours: Double
    let logger: Logger

    public init(server: ServerClient, bus: OonaClient, bufferCapacity: Int, replayTTLHours: Double, logger: Logger) {
        self.server = server
        self.bus = bus
        self.bufferCapacity = bufferCapacity
        self.replayTTLHours = replayTTLHours
        self.logger = logger
    }

    struct JobError: Error, CustomStringConvertible {
        let description: String
    }

    public func handle(_ context: JobContext, worker: Worker) -> JobDisposition {
        guard let id = context.job.objectValue?["job_id"]?.stringValue, UUID(uuidString: id) != nil, id == id.lowercased() else {
            logger.error("unreadable policy job dropped", metadata: ["entry": "\(context.entryId)"])
            return .done
        }
        return worker.holding(context, runId: "simic-" + id) {
            let job: SimicJob
            do {
                let response = try server.get("/api/v1/simic/jobs/\(id)")
                guard let row = try JSONValue.parse(response.body).objectValue?["job"] else {
                    throw JobError(description: "no job in the answer")
                }
                job = try JanssonDecoder().decode(SimicJob.self, from: row)
            } catch {
                // The server does not answer or no longer knows the job: hand it back unless the
                // worker is the problem for good (a 404 is acknowledged).
                logger.error("policy job not readable from the server", metadata: ["job": "\(id)", "error": "\(error)"])
                return "\(error)".contains("HTTP 404") ? .done : .abandoned
            }
            // Running: a worker that held it died; the lease says it is ours now.
            guard job.state == .queued || job.state == .running else { return .done }
            logger.info("policy job taken", metadata: ["job": "\(id)", "worker": "\(context.consumer)"])
            guard send(PolicyJobRecord(policyJob: id, state: .running, worker: context.consumer), worker: worker) else { return .abandoned }
            let outcome: PolicyJobRecord
            do {
                let initial = try currentWeights()
                let buffer = FieldReportReplayBuffer(capacity: bufferCapacity, ttlHours: replayTTLHours)
                buffer.extend(try fieldReports(), now: Date().timeIntervalSince1970)
                let (result, candidate) = try SimicJobRunner.train(job, buffer: buffer, initial: initial) { packet in
                    _ = try? bus.publishTelemetry(packet)
                }
                let passed = result.validation.passed
                outcome = PolicyJobRecord(
                    policyJob: id, state: passed ? .succeeded : .rejected, worker: context.consumer, result: result,
                    weights: passed && job.settings.publish ? candidate : nil)
            } catch {
                logger.error("policy job failed", metadata: ["job": "\(id)", "error": "\(error)"])
                outcome = PolicyJobRecord(policyJob: id, state: .failed, worker: context.consumer, error: "\(error)")
            }
            // Not delivered: leave the entry pending; another worker runs it again (seeded: the same
            // policy).
            guard send(outcome, worker: worker) else { return .abandoned }
            logger.info("policy job finished", metadata: ["job": "\(id)", "state": "\(outcome.state.rawValue)"])
            return .done
        }
    }

    public func deadLettered(job: JSONValue?, reason: String, worker: Worker) {
        guard let id = job?.objectValue?["job_id"]?.stringValue else { return }
        logger.error("policy job dead-lettered", metadata: ["job": "\(id)", "reason": "\(reason)"])
        _ = send(
            PolicyJobRecord(
                policyJob: id, state: .failed, worker: worker.id,
                error: "the job was dead-lettered (\(reason)): it ended the workers that took it"), worker: worker)
    }

    /// Publishes a record, retrying while Redis is away (up to 30 s or until shutdown).
    private func send(_ record: PolicyJobRecord, worker: Worker) -> Bool {
        do {
            try bus.publishJobRecord(record, attributes: ["simic_job_id": record.policyJob]) { worker.isStopping }
            return true
        } catch {
            logger.error("policy job record not published", metadata: ["job": "\(record.policyJob)", "error": "\(error)"])
            return false
        }
    }

    private func currentWeights() throws -> PolicyWeights {
        let response = try server.get("/api/v1/tamiyo/policy/weights")
        let actual = Checksum.sha256Hex(response.body)
        guard response.sha256Header == actual else {
            throw JobError(description: "policy weights: checksum mismatch (header \(response.sha256Header ?? "none"), body \(actual))")
        }
        return try PolicyWeights(decoding: response.body)
    }

    /// The server's durable field reports within the replay TTL, oldest first.
    private func fieldReports() throws -> [FieldReport] {
        let since = LeylineTimestamp(seconds: Int64(Date().timeIntervalSince1970 - replayTTLHours * 3600)).rfc3339
        var reports: [FieldReport] = []
        var cursor: String?
        repeat {
            var path =
                "/api/v1/tamiyo/field-reports?trajectory=true&limit=100&since="
                + (since.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? since)
            if let cursor { path += "&cursor=" + cursor }
            let page = try JSONValue.parse(try server.get(path).body)
            for item in page.objectValue?["items"]?.arrayValue ?? [] {
                reports.append(try JanssonDecoder().decode(FieldReport.self, from: item))
            }
            cursor = page.objectValue?["next_cursor"]?.stringValue
        } while cursor != nil
        return reports
    }
}
