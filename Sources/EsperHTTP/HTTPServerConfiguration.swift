/// Limits and sizes of the HTTP server; every value is validated by the caller's
/// configuration layer before the server starts.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind: an IPv4/IPv6 literal or a host name (`127.0.0.1` by default).
    public var host: String = "127.0.0.1"
    /// 0 picks a free port (tests).
    public var port: UInt16 = 8080
    /// libmicrohttpd epoll thread pool size.
    public var threads: Int = 2
    /// Idle connections (and clients that send nothing) are closed after this many seconds.
    public var connectionTimeoutSeconds: Int = 30
    public var maxConnections: Int = 1024
    public var maxConnectionsPerIP: Int = 256
    /// The last connections of `maxConnections` kept for addresses holding fewer than four
    /// (a health checker, an operator): idle connections from a few addresses cannot fill
    /// them. 0 turns the reserve off.
    public var reservedConnections: Int = 128
    /// Addresses of reverse proxies in front of the server: exempt from the per-address cap
    /// and the reserve (they carry many users), and their `X-Forwarded-For` is believed.
    public var trustedProxies: [String] = []
    /// Per-connection memory for headers and buffers; larger header blocks get 431.
    /// libmicrohttpd clears all of it after every request (a `memset` per request), so it is
    /// kept small: 16 KB takes an 8 KB header (nginx's default limit for one header line)
    /// and refuses a 16 KB one (both tested).
    public var connectionMemoryLimitBytes: Int = 16 * 1024
    /// Request bodies above this get 413 (checked against Content-Length up front and while
    /// reading a chunked body).
    public var maxBodyBytes: Int = 1 << 20
    public var listenBacklog: Int = 1024
    /// Write one log line per request.
    public var accessLog: Bool = true
    /// Fraction of successful, fast reads (GET, HEAD, OPTIONS below 400) the access log
    /// writes, 0...1 (`ESPER_ACCESS_LOG_SAMPLE`); errors, slow requests and mutations always.
    public var accessLogSample: Double = 1
    /// Requests taking at least this long are always logged (`ESPER_ACCESS_LOG_SLOW_MS`).
    public var accessLogSlowMilliseconds: Int = 1000
    /// The fraction for probes — health checks and metric scrapes (`probeRoutes`), which
    /// load balancers and Prometheus send all day and a load test sends 100,000 a second
    /// (`ESPER_ACCESS_LOG_PROBE_SAMPLE`; 1 % unless set, or `ESPER_ACCESS_LOG_SAMPLE` alone is).
    public var accessLogProbeSample: Double = 0.01
    /// Route patterns sampled at `accessLogProbeSample`.
    public var probeRoutes: Set<String> = ["/healthz", "/metrics"]

    public init() {}
}
