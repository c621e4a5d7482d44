import EsperJSON

/// A complete response. Bodies are small JSON or text documents built in memory.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

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
