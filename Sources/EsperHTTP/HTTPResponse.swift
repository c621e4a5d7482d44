import EsperJSON

/// A complete response. Bodies are small JSON or text documents built in memory — or, for
/// Server-Sent Events, an `EventStream` the server pulls from for as long as the client stays.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// A streaming body (then `body` is ignored).
    public var stream: EventStream?
    /// An answer given later (then everything else here is ignored).
    public var deferred: DeferredResponse?

    public init(status: Int, headers: [(name: String, value: String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public static let jsonContentType = "application/json"
    public static let problemContentType = "application/problem+json"

    /// A JSON body from any encodable value (snake_case keys, sorted).
    public static func json<T: Encodable>(
        _ value: T, status: Int = 200, headers: [(name: String, value: String)] = []
    ) throws -> HTTPResponse {
        HTTPResponse(
            status: status, headers: [("Content-Type", jsonContentType)] + headers,
            body: try JanssonEncoder().encode(value))
    }

    public static func text(_ text: String, status: Int = 200, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", contentType)], body: Array(text.utf8))
    }

    /// The headers of an event stream: never cached, never buffered by proxies.
    public static let eventStreamHeaders: [(name: String, value: String)] = [
        ("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
    ]

    /// `200 text/event-stream` fed by `stream`.
    public static func eventStream(_ stream: EventStream, headers: [(name: String, value: String)] = []) -> HTTPResponse {
        var response = HTTPResponse(status: 200, headers: eventStreamHeaders + headers)
        response.stream = stream
        return response
    }

    /// The answer `deferred` resolves to; the connection is parked until then.
    public static func deferred(_ deferred: DeferredResponse) -> HTTPResponse {
        var response = HTTPResponse(status: 0)
        response.deferred = deferred
        return response
    }

    public static func problem(_ problem: Problem) -> HTTPResponse {
        // A Problem always encodes (no floats), so the fallback is never used in practice.
        let body = (try? JanssonEncoder().encode(problem)) ?? Array(#"{"status":500}"#.utf8)
        var headers: [(name: String, value: String)] = [("Content-Type", problemContentType)]
        for (name, value) in problem.headers.sorted(by: { $0.key < $1.key }) { headers.append((name, value)) }
        return HTTPResponse(status: problem.status, headers: headers, body: body)
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}
