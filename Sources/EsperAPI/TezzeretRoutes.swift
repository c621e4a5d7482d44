public import EsperHTTP
import EsperJSON
import Karn
public import Tezzeret

/// `/api/v1/tezzeret`: the forge (status, run) and the request pipeline (compile jobs). Every
/// handler only queues work or reads state; compiles run on Tezzeret's worker threads.
public enum TezzeretRoutes {
    struct ForgeRunResponse: Encodable {
        /// False when a run was already queued (this request joined it).
        var queued: Bool
        var status: ForgeStatus
    }

    struct JobRequest: Decodable {
        var blueprintId: String
        var parameters: [String: Double]?
        var trainingRunId: String?
    }

    public static func register(into routes: inout OperationHandlers, tezzeret: TezzeretService) {
        routes.on("getForgeStatus") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(tezzeret.forgeStatus)
        }

        routes.on("runForge") { request in
            if !request.body.isEmpty { _ = try request.decodeJSON(UrzaRoutes.EmptyBody.self) }
            let queued = tezzeret.requestForgeRun(trigger: "api")
            return try .json(
                ForgeRunResponse(queued: queued, status: tezzeret.forgeStatus), status: 202,
                headers: [("Location", "/api/v1/tezzeret/forge")])
        }

        routes.on("createCompileJob") { request in
            let body = try request.decodeJSON(JobRequest.self)
            var problems: [JSONFieldProblem] = []
            if !BlueprintID.isValid(body.blueprintId) {
                problems.append(
                    JSONFieldProblem(
                        field: "blueprint_id", message: "'\(body.blueprintId)' is not a blueprint id (BP followed by three digits)"))
            }
            if let run = body.trainingRunId, run.isEmpty || run.unicodeScalars.count > 128 {
                problems.append(JSONFieldProblem(field: "training_run_id", message: "must be 1-128 characters"))
            }
            if !problems.isEmpty { throw Problem.validation(problems) }
            let key = try request.idempotencyKey()
            let submitted: (job: CompileJob, created: Bool)
            do throws(CompileError) {
                submitted = try tezzeret.jobs.submit(
                    blueprintId: body.blueprintId, parameters: body.parameters ?? [:],
                    trainingRunId: body.trainingRunId, idempotencyKey: key)
            } catch {
                throw problem(error)
            }
            return try .json(submitted.job, status: 202, headers: [("Location", "/api/v1/tezzeret/jobs/\(submitted.job.jobId)")])
        }

        routes.on("getCompileJob") { request in
            let id = request.pathParameter("id")
            let hex = id.dropFirst(4)
            guard id.hasPrefix("job-"), hex.count == 16, hex.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
                throw Problem(status: 400, type: "/problems/invalid-id", detail: "'\(id)' is not a job id (job- followed by 16 hex digits)")
            }
            guard let job = tezzeret.jobs.job(id) else { throw BlueprintAPI.notFound("no compile job \(id)") }
            return try .json(job)
        }
    }

    static func problem(_ error: CompileError) -> Problem {
        switch error.reason {
        case .notFound: return BlueprintAPI.notFound("blueprint \(error.blueprintId) is not in the catalog")
        case .invalidParameters(let problems): return Problem.parameters(problems, blueprintId: error.blueprintId)
        case .shapeInvalid(let parameter, let message):
            return Problem(
                status: 422, type: "/problems/shape-invalid", detail: error.description,
                errors: [JSONFieldProblem(field: parameter.map { "parameters.\($0)" } ?? "parameters", message: message)])
        case .tooLarge: return Problem(status: 422, type: "/problems/too-large", detail: error.description)
        case .queueUnavailable:
            return Problem(status: 503, detail: error.description, headers: ["Retry-After": "5"])
        default: return Problem(status: 500, detail: error.description)
        }
    }
}
