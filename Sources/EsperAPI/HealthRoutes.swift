// EsperAPI: the HTTP routes and handlers — parse, validate, call a service, encode. No
// business logic lives here.
public import EsperHTTP
public import Prometheus

/// One dependency's state as `/healthz` reports it.
public struct HealthCheckResult: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case ok, degraded }
    public var status: Status
    public var detail: String

    public init(status: Status, detail: String) {
        self.status = status
        self.detail = detail
    }
}

/// Something `/healthz` asks; it must answer from memory, quickly.
public struct HealthProbe: Sendable {
    public let name: String
    public let check: @Sendable () -> HealthCheckResult

    public init(name: String, check: @escaping @Sendable () -> HealthCheckResult) {
        self.name = name
        self.check = check
    }
}

/// What `GET /api/v1/version` reports.
public struct VersionInfo: Sendable, Codable {
    public var name = "esper"
    public var version: String
    public var api = "v1"
    public var leylineSchema = "leyline-core/v1alpha1"

    public init(version: String) { self.version = version }
}

/// `/healthz`, `/metrics` and `/api/v1/version`.
public enum HealthRoutes {
    struct HealthReport: Codable {
        var status: HealthCheckResult.Status
        var checks: [String: HealthCheckResult]
    }

    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func register(
        into routes: inout OperationHandlers, probes: [HealthProbe], registry: PrometheusCollectorRegistry,
        version: VersionInfo
    ) {
        // 200 when every check is ok; 503 when any is degraded, so `curl -f` and load
        // balancers see the difference. The server itself stays up either way.
        let cache = HealthCache(probes: probes)
        routes.on("getHealth") { _ in try cache.response() }
        routes.on("getMetrics") { _ in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return HTTPResponse(status: 200, headers: [("Content-Type", prometheusContentType)], body: buffer)
        }
        routes.on("getVersion") { _ in try .json(version) }
    }
}
