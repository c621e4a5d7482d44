// EsperHTTP: the HTTP server over libmicrohttpd — requests, responses, problem+json errors,
// routing, limits, request ids, access log and request metrics.
public import EsperJSON

/// One HTTP request as handlers see it: the body is complete, the path is percent-decoded
/// (libmicrohttpd decodes it), header names are lower-case.
public struct HTTPRequest: Sendable {
    public let method: String
    public let path: String
    /// Query parameters in order (a key may repeat).
    public let queryItems: [(name: String, value: String)]
    public let headers: [String: String]
    public let body: [UInt8]
    public let requestId: String
    public let remoteAddress: String
    /// Values of `{name}` segments of the matched route.
    public internal(set) var pathParameters: [String: String] = [:]

    public init(
        method: String, path: String, queryItems: [(name: String, value: String)] = [], headers: [String: String] = [:],
        body: [UInt8] = [], requestId: String = "test", remoteAddress: String = ""
    ) {
        self.method = method
        self.path = path
        self.queryItems = queryItems
        self.headers = headers
        self.body = body
        self.requestId = requestId
        self.remoteAddress = remoteAddress
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The first value of a query parameter.
    public func query(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }

    public func pathParameter(_ name: String) -> String { pathParameters[name] ?? "" }

    /// The body as a JSON document for a submission (`what`: "run config", "study"): empty →
    /// 400, another media type → 415, unparseable → 400 naming the byte.
    public func jsonBody(expecting what: String) throws(Problem) -> JSONValue {
        guard !body.isEmpty else { throw Problem.badRequest("the request body is empty; a JSON \(what) is expected") }
        if let contentType = header("content-type"), !contentType.lowercased().hasPrefix("application/json") {
            throw Problem(status: 415, detail: "send the \(what) as application/json, not \(contentType)")
        }
        do {
            return try JSONValue.parse(body)
        } catch {
            throw Problem.badRequest(
                "the body is not valid JSON: \(error.description) (byte \(error.position))", type: "/problems/malformed-json")
        }
    }

    /// The `Idempotency-Key` header of a submission, if sent: 1-200 visible ASCII characters
    /// (else 400).
    public func idempotencyKey() throws(Problem) -> String? {
        guard let key = header("idempotency-key") else { return nil }
        if key.isEmpty || key.utf8.count > 200 || key.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7e }) {
            throw Problem(
                status: 400, detail: "Idempotency-Key must be 1-200 visible ASCII characters",
                errors: [JSONFieldProblem(field: "Idempotency-Key", message: "1-200 visible ASCII characters")])
        }
        return key
    }

    /// Decodes a JSON body strictly: unparseable → 400 naming the position, unknown keys →
    /// 400 naming them, missing or ill-typed fields → 422 listing every field.
    public func decodeJSON<T: Decodable>(_ type: T.Type) throws(Problem) -> T {
        guard !body.isEmpty else {
            throw Problem.badRequest("the request body is empty; a JSON object is expected")
        }
        if let contentType = header("content-type"), !contentType.lowercased().hasPrefix("application/json") {
            throw Problem(status: 415, title: "Unsupported Media Type", detail: "send the body as application/json, not \(contentType)")
        }
        do {
            return try JanssonDecoder(rejectUnknownKeys: true).decode(type, from: body)
        } catch let error as JSONParseError {
            throw Problem.badRequest(
                "the body is not valid JSON: \(error.description) (byte \(error.position))",
                type: "/problems/malformed-json")
        } catch let error as JSONUnknownFieldsError {
            throw Problem(
                status: 400, type: "/problems/unknown-field", title: "Bad Request",
                detail: "unknown field\(error.fields.count == 1 ? "" : "s"): "
                    + error.fields.prefix(Problem.maxListedErrors).joined(separator: ", ")
                    + (error.fields.count > Problem.maxListedErrors ? " and \(error.fields.count - Problem.maxListedErrors) more" : ""),
                errors: error.fields.map { JSONFieldProblem(field: $0, message: "unknown field") })
        } catch let problem as Problem {
            throw problem
        } catch {
            let problems = JSONFieldProblem.from(error) ?? [JSONFieldProblem(field: "", message: "\(error)")]
            throw Problem.validation(problems)
        }
    }
}
