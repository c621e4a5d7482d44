public import EsperHTTP
import EsperJSON
public import Nissa

/// The Grafana JSON datasource (`simpod-json-datasource`) under `/grafana`: set
/// `http://<esper>/grafana` as the datasource URL. Its `POST /metrics` would clash with
/// Prometheus' `GET /metrics`, hence the prefix. Bodies are lenient about extra fields
/// (Grafana sends many), strict about the ones used (422 naming the field). Errors are
/// problem+json with one more member, `message` (the detail): Grafana shows a failed query's
/// `data.message` in the panel, and nothing of the problem's own members.
public enum GrafanaRoutes {
    public static let basePath = "/grafana"

    public static func register(into routes: inout OperationHandlers, datasource: GrafanaDatasource) {
        // The datasource's "Save & test" button: only the status is checked.
        routes.on("grafanaTest") { _ in .text("Esper Grafana JSON datasource: ok\n") }
        routes.on("grafanaMetrics") { request in try answer(request) { try datasource.metrics($0) } }
        routes.on("grafanaPayloadOptions") { request in try answer(request) { try datasource.payloadOptions($0) } }
        routes.on("grafanaVariable") { request in try answer(request) { try datasource.variable($0) } }
        routes.on("grafanaTagKeys") { _ in try json(datasource.tagKeys()) }
        routes.on("grafanaTagValues") { request in try answer(request) { try datasource.tagValues($0) } }
        // The SimpleJSON protocol of plugin versions before 0.6 and of grafana-simple-json.
        routes.on("grafanaSearch") { request in try answer(request) { try datasource.search($0) } }
        routes.on("grafanaAnnotations") { request in try answer(request) { try datasource.annotations($0) } }
        routes.on("grafanaQuery") { request in
            do {
                let body = try parse(request)
                return HTTPResponse(
                    status: 200, headers: [("Content-Type", HTTPResponse.jsonContentType)], body: try datasource.query(body))
            } catch let error as GrafanaRequestError {
                return shown(problem(error))
            } catch let problem as Problem {
                return shown(problem)
            }
        }
    }

    static func parse(_ request: HTTPRequest) throws(Problem) -> JSONValue? {
        guard !request.body.isEmpty else { return nil }
        do {
            return try JSONValue.parse(request.body)
        } catch {
            throw Problem.badRequest(
                "the body is not valid JSON: \(error.description) (byte \(error.position))", type: "/problems/malformed-json")
        }
    }

    static func problem(_ error: GrafanaRequestError) -> Problem {
        Problem.validation([JSONFieldProblem(field: error.field, message: error.message)])
    }

    /// The problem response with `message` added, so Grafana shows what went wrong.
    static func shown(_ problem: Problem) -> HTTPResponse {
        var response = HTTPResponse.problem(problem)
        if var object = (try? JSONValue.parse(response.body))?.objectValue {
            object["message"] = .string(problem.detail)
            if let body = try? JSONValue.object(object).serialized() { response.body = body }
        }
        return response
    }

    static func json(_ value: JSONValue) throws -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", HTTPResponse.jsonContentType)], body: try value.serialized())
    }

    static func answer(_ request: HTTPRequest, _ body: (JSONValue?) throws -> JSONValue) throws -> HTTPResponse {
        do {
            return try json(try body(try parse(request)))
        } catch let error as GrafanaRequestError {
            return shown(problem(error))
        } catch let problem as Problem {
            return shown(problem)
        }
    }
}
