/// A route handler. Handlers run on libmicrohttpd's pool threads: they must answer quickly
/// and never block (long work goes to workers, long waits use suspend/resume).
public typealias HTTPHandler = @Sendable (HTTPRequest) throws -> HTTPResponse

/// Routes by method and path pattern (`/api/v1/runs/{id}/metrics`). Unknown paths are 404,
/// known paths with another method 405 with `Allow`; `HEAD` is served by the `GET` route.
/// The server's routes come from the OpenAPI document (`init(document:handlers:)`); adding
/// a route by hand is for this module and its tests only.
public struct Router: Sendable {
    public struct Route: Sendable {
        public let method: String
        /// The pattern as written, e.g. `/api/v1/runs/{id}`; also the `route` metrics label.
        public let pattern: String
        /// Position in `routes` (per-route metrics are kept in an array by this index).
        public let index: Int
        /// Liveness and scrape endpoints stay open even when reads are protected.
        public let isPublic: Bool
        /// The OpenAPI document's name for it (empty for routes made without a document).
        public let operationId: String
        let segments: [Segment]
        let handler: HTTPHandler

        /// Whether the route changes state (and so needs the API token when one is set).
        public var isMutating: Bool { method != "GET" && method != "HEAD" }
    }

    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
    }

    /// The outcome of matching a request.
    public enum Match {
        case found(Route, parameters: [String: String])
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    public private(set) var routes: [Route] = []
    /// Static paths resolve with one dictionary lookup (most traffic: /healthz, /metrics).
    private var staticRoutes: [String: [String: Route]] = [:]

    init() {}

    mutating func add(
        _ method: String, _ pattern: String, isPublic: Bool = false, operationId: String = "", _ handler: @escaping HTTPHandler
    ) {
        let segments = Router.split(pattern).map { part -> Segment in
            part.hasPrefix("{") && part.hasSuffix("}") ? .parameter(String(part.dropFirst().dropLast())) : .literal(String(part))
        }
        precondition(!routes.contains { $0.method == method && $0.segments == segments }, "duplicate route \(method) \(pattern)")
        let route = Route(
            method: method, pattern: pattern, index: routes.count, isPublic: isPublic, operationId: operationId,
            segments: segments, handler: handler)
        routes.append(route)
        if !segments.contains(where: { if case .parameter = $0 { true } else { false } }) {
            staticRoutes[Router.normalise(pattern), default: [:]][method] = route
        }
    }

    public func match(method: String, path: String) -> Match {
        let lookupMethod = method == "HEAD" ? "GET" : method
        if let byMethod = staticRoutes[Router.normalise(path)] {
            if let route = byMethod[lookupMethod] { return .found(route, parameters: [:]) }
        }
        let parts = Router.split(path)
        var allowed: Set<String> = []
        for route in routes where route.segments.count == parts.count {
            guard let parameters = Router.bind(route.segments, parts) else { continue }
            if route.method == lookupMethod { return .found(route, parameters: parameters) }
            allowed.insert(route.method)
        }
        guard !allowed.isEmpty else { return .notFound }
        if allowed.contains("GET") { allowed.insert("HEAD") }
        return .methodNotAllowed(allowed: allowed.sorted())
    }

    private static func bind(_ segments: [Segment], _ parts: [Substring]) -> [String: String]? {
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            switch segment {
            case .literal(let literal): if literal != part { return nil }
            case .parameter(let name):
                if part.isEmpty { return nil }
                parameters[name] = String(part)
            }
        }
        return parameters
    }

    private static func split(_ path: String) -> [Substring] {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        return trimmed.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { $0 }
    }

    /// `/a/b/` and `/a/b` are the same resource. Paths without a trailing slash (nearly
    /// all) are returned as they are: no copy, no walk over their characters.
    private static func normalise(_ path: String) -> String {
        guard path.utf8.count > 1, path.utf8.last == UInt8(ascii: "/") else { return path }
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }
}
