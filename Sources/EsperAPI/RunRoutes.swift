public import EsperHTTP
import EsperJSON
import Foundation
public import Runs
import Tolaria

/// `/api/v1/runs`: start training runs, list and inspect them, pause, resume and stop them.
/// Handlers only parse, validate and call the `RunService`; training itself runs on workers
/// (in-process or `esper worker`) that take jobs from the bus, so every handler returns in
/// milliseconds.
public enum RunRoutes {
    public static let basePath = "/api/v1/runs"

    public static func register(into routes: inout OperationHandlers, service: RunService) {
        routes.on("createRun") { request in try create(request, service) }
        routes.on("listRuns") { request in try list(request, service) }
        routes.on("getRun") { request in
            let id = try runId(request)
            guard let body = try service.runJSON(id) else { throw Problem.notFound("no run \(id)") }
            return HTTPResponse(status: 200, headers: [("Content-Type", HTTPResponse.jsonContentType)], body: body)
        }
        routes.on("getRunMetrics") { request in
            let id = try runId(request)
            let (since, fields) = try historyQuery(request)
            guard let body = try service.metricsJSON(id, since: since, fields: fields) else { throw Problem.notFound("no run \(id)") }
            return HTTPResponse(status: 200, headers: [("Content-Type", HTTPResponse.jsonContentType)], body: body)
        }
        routes.on("pauseRun") { request in try control(request, service, .pause) { try service.pause($0) } }
        routes.on("resumeRun") { request in try control(request) { try service.resume($0) } }
        routes.on("stopRun") { request in try control(request, service, .stop) { try service.stop($0) } }
    }

    /// The run is recorded in a group commit whose sync it waits for parked (no HTTP thread
    /// held): up to as many creates as there are connections share one sync.
    static func create(_ request: HTTPRequest, _ service: RunService) throws -> HTTPResponse {
        let json = try request.jsonBody(expecting: "run config")
        let key = try request.idempotencyKey()
        let deferred = DeferredResponse()
        do {
            try service.submit(json, idempotencyKey: key) { finish in
                deferred.resolve { try created(finish) }
            }
        } catch {
            throw problem(error)
        }
        return .deferred(deferred)
    }

    /// The 202 of a recorded run (on the request's pool thread, once its commit is synced).
    static func created(_ finish: RunService.SubmissionFinish) throws -> HTTPResponse {
        let run: RunService.SubmittedRun
        do {
            run = try finish()
        } catch {
            throw problem(error)
        }
        return HTTPResponse(
            status: 202, headers: [("Content-Type", HTTPResponse.jsonContentType), ("Location", "\(basePath)/\(run.record.id)")],
            body: run.json)
    }

    static func problem(_ error: RunSubmissionError) -> Problem {
        switch error {
        case .invalid(let invalid): Problem.validation(invalid.problems)
        case .storage(let reason): Problem(status: 500, detail: "cannot record the run: \(reason)")
        }
    }

    static func list(_ request: HTTPRequest, _ service: RunService) throws -> HTTPResponse {
        var query = ListQuery()
        let status = query.filter(request, "status", RunStatus.self)
        query.paginate(request)
        try query.check()
        let (limit, cursor) = (query.limit, query.cursor)
        // The items come encoded (RunRecordJSON): `{items, next_cursor}` as ListPage encodes it.
        var body: [UInt8]
        let nextCursor: Int64?
        (body, nextCursor) = try service.listJSON(status: status, limit: limit, cursor: cursor, prefix: Array(#"{"items":"#.utf8))
        body.append(contentsOf: #","next_cursor":"#.utf8)
        body.append(contentsOf: try nextCursor.map { try JanssonEncoder().encode(ListCursor.encode($0)) } ?? Array("null".utf8))
        body.append(UInt8(ascii: "}"))
        return HTTPResponse(status: 200, headers: [("Content-Type", HTTPResponse.jsonContentType)], body: body)
    }

    static func control(_ request: HTTPRequest, _ action: (String) throws -> RunRecord) throws -> HTTPResponse {
        let id = try runId(request)
        do {
            return try .json(try action(id))
        } catch let error as RunControlError {
            switch error {
            case .notFound(let message): throw Problem.notFound(message)
            case .conflict(let message): throw Problem.conflict(message)
            case .unavailable(let message): throw Problem.unavailable(message)
            }
        }
    }

    /// Where a paused or stopped run ends, told with the answer (the status changes at once;
    /// the worker holding the run ends it at the point named here — poll the run for it).
    struct StopPoint: Encodable {
        /// `immediately` (it was not training), `epoch_boundary` (pause: after the epoch in
        /// progress, with a checkpoint of it) or `next_batch` (stop: within the epoch in
        /// progress, no checkpoint of it).
        var takesEffect: String
        /// The last epoch the run will have completed (pause: the one in progress; stop: the
        /// last one finished so far; nil when it had not started an epoch).
        var lastEpoch: Int?
        var detail: String
        /// Where to watch it happen.
        var poll: String
    }

    enum StopAction { case pause, stop }

    /// Pause and stop: the run record plus `stop_point`.
    static func control(
        _ request: HTTPRequest, _ service: RunService, _ action: StopAction, _ body: (String) throws -> RunRecord
    ) throws -> HTTPResponse {
        let id = try runId(request)
        let before = try service.run(id)
        let response = try control(request, body)
        guard let before, response.status == 200, case .object(var object) = try JSONValue.parse(response.body) else { return response }
        let training = before.status == .running
        let point: StopPoint
        switch (action, training) {
        case (.pause, true):
            point = StopPoint(
                takesEffect: "epoch_boundary", lastEpoch: before.epoch + 1,
                detail:
                    "the worker finishes epoch \(before.epoch + 1) (in progress), checkpoints it and stops; resume continues from there",
                poll: "\(basePath)/\(id)")
        case (.stop, true):
            point = StopPoint(
                takesEffect: "next_batch", lastEpoch: before.epoch > 0 ? before.epoch : nil,
                detail: "the worker ends the run at its next batch; epoch \(before.epoch + 1) (in progress) is not completed",
                poll: "\(basePath)/\(id)")
        default:
            point = StopPoint(
                takesEffect: "immediately", lastEpoch: before.epoch > 0 ? before.epoch : nil,
                detail: "the run was \(before.status.rawValue), not training: nothing more happens", poll: "\(basePath)/\(id)")
        }
        object["stop_point"] = try JanssonEncoder().encodeValue(point)
        var answer = response
        answer.body = try JSONValue.object(object).serialized()
        return answer
    }

    /// A history's `?since=` (epochs from that number on, and their events) and `?fields=`
    /// (comma-separated epoch members to keep; `epoch` is always kept): a 400 names every bad one.
    static func historyQuery(_ request: HTTPRequest) throws(Problem) -> (since: Int?, fields: Set<String>?) {
        var query = ListQuery()
        var since: Int?
        if let text = request.query("since") {
            if let value = Int(text), value >= 0 {
                since = value
            } else {
                query.problems.append(JSONFieldProblem(field: "since", message: "must be an epoch number (an integer ≥ 0)"))
            }
        }
        var fields: Set<String>?
        if let text = request.query("fields") {
            let names = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
            let unknown = names.filter { !RunService.epochFields.contains($0) }
            if names.isEmpty || !unknown.isEmpty {
                query.problems.append(
                    JSONFieldProblem(
                        field: "fields",
                        message: "unknown member(s) \(unknown.map { "'\($0.prefix(64))'" }.joined(separator: ", ")); "
                            + "each must be one of \(RunService.epochFields.sorted().joined(separator: ", "))"))
            } else {
                fields = Set(names)
            }
        }
        try query.check()
        return (since, fields)
    }

    /// Run ids are lower-case UUIDs; anything else is a malformed request, not a missing run.
    static func runId(_ request: HTTPRequest) throws(Problem) -> String {
        let id = request.pathParameter("id")
        guard id.utf8.count == 36, UUID(uuidString: id) != nil, id == id.lowercased() else {
            throw Problem(
                status: 400, detail: "'\(id.prefix(64))' is not a run id (a lower-case UUID)",
                errors: [JSONFieldProblem(field: "id", message: "expected a lower-case UUID")])
        }
        return id
    }
}
