public import Prometheus

/// Per-route request counters by status and a request-duration histogram, in the process'
/// Prometheus registry. The route label is the route pattern (`unmatched` for 404s), so
/// arbitrary paths cannot blow up the number of series.
public final class HTTPMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
    ]

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    nonisolated(unsafe) static let requests = MetricNameDescriptor(namespace: "esper", subsystem: "http", metricName: "requests", unitName: "total",
                                               helpText: "HTTP requests answered, by route pattern, method and status.")
    nonisolated(unsafe) static let duration = MetricNameDescriptor(namespace: "esper", subsystem: "http", metricName: "request_duration", unitName: "seconds",
                                               helpText: "Time from request headers to the response being sent, by route pattern.")

    func record(route: String, method: String, status: Int, nanoseconds: Int64) {
        registry.makeCounter(descriptor: HTTPMetrics.requests,
                             labels: [("route", route), ("method", method), ("status", String(status))]).increment()
        registry.makeDurationHistogram(descriptor: HTTPMetrics.duration, labels: [("route", route)], buckets: HTTPMetrics.buckets)
            .recordNanoseconds(nanoseconds)
    }
}
