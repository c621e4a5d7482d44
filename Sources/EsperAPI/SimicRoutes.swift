public import EsperHTTP
import EsperJSON
import Foundation
public import Simic

/// `/api/v1/simic`: training jobs (queued here, run on Simic's worker thread) and the
/// policies they published. Handlers validate and read SQLite; nothing waits for training.
public enum SimicRoutes {
    static let basePath = "/api/v1/simic/jobs"

    struct JobView: Encodable {
        var job: SimicJob
        var buffer: SimicService.BufferInfo
    }

    public static func register(into routes: inout OperationHandlers, simic: SimicService) {
        routes.on("createSimicJob") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            // An empty body trains with every default.
            let settings = request.body.isEmpty ? SimicTrainingSettings() : try request.decodeJSON(SimicTrainingSettings.self)
            let problems = settings.problems()
            guard problems.isEmpty else { throw Problem.validation(problems) }
            let job: SimicJob
            do {
                job = try simic.submit(settings)
            } catch let error as SimicService.QueueUnavailable {
                throw Problem(status: 503, detail: error.description, headers: ["Retry-After": "5"])
            } catch {
                throw Problem(status: 500, detail: "cannot record the job: \(error)")
            }
            return try .json(job, status: 202, headers: [("Location", "\(basePath)/\(job.id)")])
        }
        routes.on("getSimicJob") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let id = request.pathParameter("id")
            guard id.utf8.count == 36, UUID(uuidString: id) != nil, id == id.lowercased() else {
                throw Problem(
                    status: 400, detail: "'\(id.prefix(64))' is not a job id (a lower-case UUID)",
                    errors: [JSONFieldProblem(field: "id", message: "expected a lower-case UUID")])
            }
            let found: SimicJob?
            do {
                found = try simic.job(id)
            } catch {
                throw Problem(status: 500, detail: "cannot read the job: \(error)")
            }
            guard let job = found else { throw Problem.notFound("no Simic job \(id)") }
            return try .json(JobView(job: job, buffer: simic.bufferInfo))
        }
        routes.on("listSimicPolicies") { request in
            try BlueprintAPI.checkQuery(request, allowed: ["limit", "cursor"])
            var query = ListQuery()
            query.paginate(request)
            try query.check()
            let page: (items: [PolicyRecord], next: Int64?)
            do {
                page = try simic.store.policies(after: query.cursor ?? 0, limit: query.limit)
            } catch {
                throw Problem(status: 500, detail: "cannot read the policies: \(error)")
            }
            // Every listed policy file is verified as it is listed (its status says what was found).
            let items = page.items.map { record in
                var record = record
                record.fileStatus = simic.publisher.fileStatus(record)
                return record
            }
            return try .json(ListPage(items: items, nextCursor: page.next.map(ListCursor.encode)))
        }
    }
}
