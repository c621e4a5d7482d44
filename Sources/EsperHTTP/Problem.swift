public import EsperJSON

/// An RFC 9457 problem: the one error shape of the API (`application/problem+json`).
/// Handlers throw it; the server turns it into the response.
public struct Problem: Error, Sendable, Equatable, Codable {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var errors: [JSONFieldProblem]
    /// Field errors found beyond the first `maxListedErrors` (not listed; `more_errors`).
    public var moreErrors: Int
    /// Extra response headers (`Allow` with 405, `Retry-After` with 503).
    public var headers: [String: String]

    public init(
        status: Int, type: String? = nil, title: String? = nil, detail: String,
        errors: [JSONFieldProblem] = [], headers: [String: String] = [:]
    ) {
        self.status = status
        self.type = type ?? Problem.defaultType(status)
        self.title = title ?? HTTPStatus.reason(status)
        // A hostile body can hold tens of thousands of bad fields: the answer lists the first
        // few and says how many more, so an error is never much larger than its cause.
        self.detail = Problem.capped(detail)
        self.errors = Array(errors.prefix(Problem.maxListedErrors))
        moreErrors = max(0, errors.count - Problem.maxListedErrors)
        self.headers = headers
    }

    /// Field errors listed in one problem at most.
    public static let maxListedErrors = 50
    /// Characters of `detail` at most (longer ones end with how much was cut).
    public static let maxDetailCharacters = 4096

    static func capped(_ detail: String) -> String {
        guard detail.count > maxDetailCharacters else { return detail }
        return String(detail.prefix(maxDetailCharacters)) + "… (\(detail.count - maxDetailCharacters) more characters)"
    }

    enum CodingKeys: String, CodingKey {
        case type, title, status, detail, errors
        case moreErrors = "more_errors"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        title = try container.decode(String.self, forKey: .title)
        status = try container.decode(Int.self, forKey: .status)
        detail = try container.decode(String.self, forKey: .detail)
        errors = try container.decodeIfPresent([JSONFieldProblem].self, forKey: .errors) ?? []
        moreErrors = try container.decodeIfPresent(Int.self, forKey: .moreErrors) ?? 0
        headers = [:]
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(title, forKey: .title)
        try container.encode(status, forKey: .status)
        try container.encode(detail, forKey: .detail)
        try container.encode(errors, forKey: .errors)
        if moreErrors > 0 { try container.encode(moreErrors, forKey: .moreErrors) }
    }

    static func defaultType(_ status: Int) -> String {
        switch status {
        case 400: "/problems/bad-request"
        case 401: "/problems/unauthorized"
        case 403: "/problems/forbidden"
        case 404: "/problems/not-found"
        case 405: "/problems/method-not-allowed"
        case 409: "/problems/conflict"
        case 413: "/problems/body-too-large"
        case 415: "/problems/unsupported-media-type"
        case 422: "/problems/validation"
        case 429: "/problems/rate-limited"
        case 503: "/problems/unavailable"
        default: status >= 500 ? "/problems/internal" : "/problems/http-\(status)"
        }
    }

    public static func badRequest(_ detail: String, type: String? = nil) -> Problem {
        Problem(status: 400, type: type, detail: detail)
    }

    public static func notFound(_ detail: String) -> Problem { Problem(status: 404, detail: detail) }

    public static func conflict(_ detail: String) -> Problem { Problem(status: 409, detail: detail) }

    public static func validation(_ errors: [JSONFieldProblem]) -> Problem {
        let fields = errors.prefix(maxListedErrors).map { $0.field.isEmpty ? $0.message : "\($0.field): \($0.message)" }
        let more = errors.count > maxListedErrors ? "; and \(errors.count - maxListedErrors) more errors" : ""
        return Problem(status: 422, detail: "invalid request: " + fields.joined(separator: "; ") + more, errors: errors)
    }

    public static func unavailable(_ detail: String, retryAfterSeconds: Int = 1) -> Problem {
        Problem(status: 503, detail: detail, headers: ["Retry-After": "\(retryAfterSeconds)"])
    }
}

/// Reason phrases for the statuses we send.
public enum HTTPStatus {
    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 409: "Conflict"
        case 413: "Content Too Large"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "HTTP \(status)"
        }
    }
}
