public import Prometheus
import Synchronization

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

    /// Connections refused at accept time (per-address cap, reserve, or full).
    let connectionsRefused: Counter

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        connectionsRefused = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "esper", subsystem: "http", metricName: "connections_refused", unitName: "total",
                helpText: "Connections refused at accept time: the address holds its cap, or only the reserve is left."))
    }

    nonisolated(unsafe) static let requests = MetricNameDescriptor(
        namespace: "esper", subsystem: "http", metricName: "requests", unitName: "total",
        helpText: "HTTP requests answered, by route pattern, method and status.")
    nonisolated(unsafe) static let duration = MetricNameDescriptor(
        namespace: "esper", subsystem: "http", metricName: "request_duration", unitName: "seconds",
        helpText: "Time from request headers to the response being sent, by route pattern.")

    /// The series of one route, created once so a request does no registry lookup.
    final class RouteSeries: Sendable {
        let route: String
        let duration: DurationHistogram
        private let counters = Mutex<[Int: Counter]>([:])
        private let registry: PrometheusCollectorRegistry

        init(route: String, registry: PrometheusCollectorRegistry) {
            self.route = route
            self.registry = registry
            duration = registry.makeDurationHistogram(
                descriptor: HTTPMetrics.duration, labels: [("route", route)],
                buckets: HTTPMetrics.buckets)
        }

        func record(method: String, status: Int, nanoseconds: Int64) {
            duration.recordNanoseconds(nanoseconds)
            let key = (HTTPMetrics.methodCode(method) << 16) | status
            let counter = counters.withLock { cache in
                if let counter = cache[key] { return counter }
                let counter = registry.makeCounter(
                    descriptor: HTTPMetrics.requests,
                    labels: [("route", route), ("method", method), ("status", String(status))])
                cache[key] = counter
                return counter
            }
            counter.increment()
        }
    }

    private static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
    static func methodCode(_ method: String) -> Int { (methods.firstIndex(of: method) ?? methods.count) + 1 }

    /// One series per route (by `Route.index`) plus one for unmatched requests (last).
    func series(for routes: [Router.Route]) -> [RouteSeries] {
        routes.map { RouteSeries(route: $0.pattern, registry: registry) } + [RouteSeries(route: "unmatched", registry: registry)]
    }
}
