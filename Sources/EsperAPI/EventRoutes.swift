public import EsperEvents
public import EsperHTTP
import EsperJSON
public import Runs

/// Server-Sent Events: `GET /api/v1/events` (everything, or `types=` only) and
/// `GET /api/v1/runs/{id}/events` (one run). Handlers validate, register an `EventStream`
/// with the hub and return at once; the hub feeds the stream from its own thread and
/// libmicrohttpd sends it without ever holding a pool thread (docs/events.md).
public enum EventRoutes {
    public static let path = "/api/v1/events"

    public static func register(into routes: inout OperationHandlers, hub: EventHub, runs: RunService) {
        routes.on("streamEvents") { request in try subscribe(request, hub, runId: nil) }
        routes.on("streamRunEvents") { request in
            let id = try RunRoutes.runId(request)
            guard try runs.run(id) != nil else { throw Problem.notFound("no run \(id)") }
            return try subscribe(request, hub, runId: id)
        }
    }

    static let parameters: Set<String> = ["types", "last_event_id"]

    static func subscribe(_ request: HTTPRequest, _ hub: EventHub, runId: String?) throws(Problem) -> HTTPResponse {
        var problems: [JSONFieldProblem] = []
        for item in request.queryItems where !parameters.contains(item.name) {
            problems.append(JSONFieldProblem(field: item.name, message: "unknown parameter; expected types or last_event_id"))
        }
        var types = Set(EventType.allCases)
        if let text = request.query("types") {
            switch EventType.parseList(text) {
            case .success(let parsed) where !parsed.isEmpty: types = parsed
            case .success:
                problems.append(JSONFieldProblem(field: "types", message: "name at least one event type"))
            case .failure(let unknown):
                let names = unknown.names.map { "'\($0.prefix(40))'" }.joined(separator: ", ")
                problems.append(
                    JSONFieldProblem(
                        field: "types",
                        message: "\(names) \(unknown.names.count == 1 ? "is not an event type" : "are not event types"); "
                            + "expected a comma-separated list of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))"))
            }
        }
        // EventSource sends the header on reconnects; the query form is for a first connect.
        var cursor: EventCursor?
        for (field, value) in [("Last-Event-ID", request.header("last-event-id")), ("last_event_id", request.query("last_event_id"))] {
            guard cursor == nil, let value else { continue }
            // An empty header means "no id yet" (EventSource); an empty query value is a mistake.
            if value.isEmpty {
                if field == "last_event_id" { problems.append(JSONFieldProblem(field: field, message: "is empty; omit it to start now")) }
                continue
            }
            guard let parsed = EventCursor(value) else {
                problems.append(
                    JSONFieldProblem(
                        field: field,
                        message:
                            "'\(value.prefix(80))' is not an event id of this server (three stream entry ids, `<ms>-<seq>,<ms>-<seq>,<ms>-<seq>`)"
                    ))
                continue
            }
            cursor = parsed
        }
        if !problems.isEmpty {
            throw Problem(
                status: 400, detail: problems.map { "\($0.field): \($0.message)" }.joined(separator: "; "), errors: problems)
        }
        if request.method == "HEAD" {
            // Validated like a GET, but nothing to stream and no subscriber place taken.
            return HTTPResponse(status: 200, headers: HTTPResponse.eventStreamHeaders)
        }
        let stream = EventStream(capacity: hub.options.clientBufferBytes)
        do {
            try hub.subscribe(stream, runId: runId, types: types, after: cursor)
        } catch {
            switch error {
            case .full(let limit):
                throw Problem(
                    status: 503, detail: "the server already streams events to \(limit) clients (ESPER_SSE_MAX_SUBSCRIBERS); retry later",
                    headers: ["Retry-After": "5"])
            case .stopped:
                throw Problem(status: 503, detail: "the server is stopping", headers: ["Retry-After": "5"])
            }
        }
        return .eventStream(stream)
    }
}
