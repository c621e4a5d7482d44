// /api/v1/studies: create studies (runs with controls over seeds), list, summarise, plot, pause, resume, stop, delete.
public import EsperHTTP
import EsperJSON
import Foundation
import Runs
public import Studies

/// Handlers parse and validate, then call the `StudyService`; the runs themselves are ordinary
/// runs trained by workers.
public enum StudyRoutes {
    public static let basePath = "/api/v1/studies"

    public static func register(into routes: inout OperationHandlers, service: StudyService) {
        routes.on("createStudy") { request in try create(request, service) }
        routes.on("listStudies") { request in
            var query = ListQuery()
            query.paginate(request)
            try query.check()
            let page = try service.list(limit: query.limit, cursor: query.cursor)
            return try .json(ListPage(items: page.items, nextCursor: page.nextCursor.map(ListCursor.encode)))
        }
        routes.on("getStudy") { request in
            let id = try studyId(request)
            return try .json(try answer { try service.summary(id) })
        }
        routes.on("getStudyCurves") { request in
            let id = try studyId(request)
            var query = ListQuery()
            let metric = query.filter(request, "metric", CurveMetric.self) ?? .validationAccuracy
            try query.check()
            return try .json(try answer { try service.curves(id, metric: metric) })
        }
        routes.on("streamStudyEvents") { request in try subscribe(request, service) }
        routes.on("pauseStudy") { request in
            let id = try studyId(request)
            return try .json(try answer { try service.pause(id) })
        }
        routes.on("resumeStudy") { request in
            let id = try studyId(request)
            return try .json(try answer { try service.resume(id) })
        }
        routes.on("stopStudy") { request in
            let id = try studyId(request)
            return try .json(try answer { try service.stop(id) })
        }
        routes.on("deleteStudy") { request in
            let id = try studyId(request)
            try answer { try service.delete(id) }
            return HTTPResponse(status: 204)
        }
    }

    static func create(_ request: HTTPRequest, _ service: StudyService) throws -> HTTPResponse {
        let json = try request.jsonBody(expecting: "study")
        let key = try request.idempotencyKey()
        let summary = try answer { try service.create(json, idempotencyKey: key) }
        return try .json(summary, status: 202, headers: [("Location", "\(basePath)/\(summary.id)")])
    }

    /// `event: study` with the study's status and progress whenever they change, until it is
    /// completed or stopped (docs/studies.md).
    static func subscribe(_ request: HTTPRequest, _ service: StudyService) throws -> HTTPResponse {
        let id = try studyId(request)
        let current = try answer { try service.progress(id) }
        if request.method == "HEAD" { return HTTPResponse(status: 200, headers: HTTPResponse.eventStreamHeaders) }
        let stream = EventStream(capacity: 256 * 1024)
        let subscribed = service.feed.subscribe(
            studyId: id, current: current, write: { stream.write($0) }, finish: { stream.finish() })
        guard subscribed else {
            throw Problem(
                status: 503, detail: "the server already streams \(service.feed.maxSubscribers) study event streams; retry later",
                headers: ["Retry-After": "5"])
        }
        return .eventStream(stream)
    }

    /// Maps the service's refusals to problems.
    @discardableResult
    static func answer<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StudyError {
            switch error {
            case .invalid(let problems): throw Problem.validation(problems)
            case .notFound(let message): throw Problem.notFound(message)
            case .conflict(let message): throw Problem.conflict(message)
            case .unavailable(let message): throw Problem.unavailable(message)
            }
        } catch let error as RunControlError {
            switch error {
            case .notFound(let message): throw Problem.notFound(message)
            case .conflict(let message): throw Problem.conflict(message)
            case .unavailable(let message): throw Problem.unavailable(message)
            }
        }
    }

    /// Study ids are lower-case UUIDs, like run ids.
    static func studyId(_ request: HTTPRequest) throws(Problem) -> String {
        let id = request.pathParameter("id")
        guard id.utf8.count == 36, UUID(uuidString: id) != nil, id == id.lowercased() else {
            throw Problem(
                status: 400, detail: "'\(id.prefix(64))' is not a study id (a lower-case UUID)",
                errors: [JSONFieldProblem(field: "id", message: "expected a lower-case UUID")])
        }
        return id
    }
}
