import Leyline
public import Prometheus
import Synchronization

/// Oona's counters, kept twice on purpose: as process-local atomics (the
/// `/api/v1/oona/metrics` snapshot, the reference's `metrics_snapshot()`) and as Prometheus
/// series in the registry passed in (`esper_oona_*` on `/metrics`). Both change at the
/// same call, so they never disagree.
public final class OonaMetrics: Sendable {
    public enum Counter: String, CaseIterable, Sendable {
        case publishTotal = "publish_total"
        case publishRerouted = "publish_rerouted"
        case publishDropped = "publish_dropped"
        case publishFailed = "publish_failed"
        case publishShed = "publish_shed"
        case consumed
        case acked
        case handlerFailed = "handler_failed"
        case reclaimed
        case deadLettered = "dead_lettered"
        case signatureRejected = "signature_rejected"
        case expired
        case versionMismatch = "version_mismatch"
        case unknownFieldsIgnored = "unknown_fields_ignored"
        case reconnects

        /// The Prometheus name between `esper_oona_` and `_total` (`publish_total` would
        /// otherwise become `..._total_total`).
        var prometheusName: String { self == .publishTotal ? "publish" : rawValue }
    }

    /// One atomic per counter (a class each: atomics cannot live in a dictionary directly).
    private final class Cell: Sendable {
        let value = Atomic<Int>(0)
    }

    private let values: [Counter: Cell]
    private let queueDepthMax = Atomic<Int>(0)
    private let registry: PrometheusCollectorRegistry?
    private let prometheusCounters: [Counter: Prometheus.Counter]
    private let publishDuration: DurationHistogram?
    private let deliveryLatency: DurationHistogram?
    private let queueDepthMaxGauge: Gauge?

    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5),
    ]

    static let help: [Counter: String] = [
        .publishTotal: "Bus entries written (rerouted ones included).",
        .publishRerouted: "Normal-bound publishes written to the emergency stream by the emergency threshold.",
        .publishDropped: "Publishes refused by a backpressure drop threshold (nothing written).",
        .publishShed: "Telemetry-detail publishes conservative mode sampled out (nothing written).",
        .publishFailed: "Publishes that failed (breaker open, Redis unavailable or refusing).",
        .consumed: "Entries handed to a consumer's handler.",
        .acked: "Entries acknowledged after their handler succeeded.",
        .handlerFailed: "Handler calls that threw (the entry stays pending and is retried).",
        .reclaimed: "Entries claimed from idle consumers with XAUTOCLAIM.",
        .deadLettered: "Entries moved to a dead-letter stream.",
        .signatureRejected: "Entries whose signature was missing or wrong (dead-lettered).",
        .expired: "Entries older than their TTL when delivered (dead-lettered).",
        .versionMismatch: "Bus messages with an unsupported Leyline version (dead-lettered).",
        .unknownFieldsIgnored: "Bus messages that carried fields this version does not know (delivered).",
        .reconnects: "Redis connections re-established after one was lost.",
    ]

    public init(registry: PrometheusCollectorRegistry?) {
        self.registry = registry
        var values: [Counter: Cell] = [:]
        for counter in Counter.allCases { values[counter] = Cell() }
        self.values = values
        var prometheusCounters: [Counter: Prometheus.Counter] = [:]
        if let registry {
            for counter in Counter.allCases where counter != .deadLettered && counter != .versionMismatch && counter != .publishFailed {
                prometheusCounters[counter] = registry.makeCounter(
                    descriptor: OonaMetrics.name(counter.prometheusName, "total", OonaMetrics.help[counter]!))
            }
            publishDuration = registry.makeDurationHistogram(
                descriptor: OonaMetrics.name(
                    "publish_duration", "seconds",
                    "Time to publish one message (routing checks, XADD), successful publishes only."),
                buckets: OonaMetrics.latencyBuckets)
            deliveryLatency = registry.makeDurationHistogram(
                descriptor: OonaMetrics.name(
                    "delivery_latency", "seconds", "Time from an envelope's created_at to its handler being called."),
                buckets: OonaMetrics.latencyBuckets)
            queueDepthMaxGauge = registry.makeGauge(
                descriptor: OonaMetrics.name(
                    "queue_depth_max", "", "High-water mark of stream backlogs (pending + not yet delivered) seen while publishing."))
            // The families a scrape right after start must already list.
            registry.makeGauge(descriptor: OonaMetrics.name("conservative_mode", "", "Bus conservative mode: 1 on, 0 off.")).set(Double(0))
        } else {
            publishDuration = nil
            deliveryLatency = nil
            queueDepthMaxGauge = nil
        }
        self.prometheusCounters = prometheusCounters
        setFleetGauges(.empty)
    }

    public func value(_ counter: Counter) -> Int { values[counter]!.value.load(ordering: .relaxed) }

    public var queueDepthMaxValue: Int { queueDepthMax.load(ordering: .relaxed) }

    func increment(_ counter: Counter, by amount: Int = 1) {
        guard amount > 0 else { return }
        values[counter]!.value.add(amount, ordering: .relaxed)
        prometheusCounters[counter]?.increment(by: Int64(amount))
    }

    func publishFailed(reason: String) {
        increment(.publishFailed)
        registry?.makeCounter(
            descriptor: OonaMetrics.name("publish_failed", "total", OonaMetrics.help[.publishFailed]!),
            labels: [("reason", reason)]
        ).increment()
    }

    func deadLettered(reason: DeadLetterReason, stream: OonaStream) {
        increment(.deadLettered)
        registry?.makeCounter(
            descriptor: OonaMetrics.name("dead_lettered", "total", OonaMetrics.help[.deadLettered]!),
            labels: [("reason", reason.rawValue), ("stream", stream.label)]
        ).increment()
    }

    func versionMismatch(_ type: BusMessageType) {
        increment(.versionMismatch)
        registry?.makeCounter(
            descriptor: MetricNameDescriptor(
                namespace: "esper", subsystem: "leyline", metricName: "version_mismatch", unitName: "total",
                helpText: "Bus messages refused for an unsupported Leyline version, by message type."),
            labels: [("message_type", type.label)]
        ).increment()
    }

    func observeDepth(_ depth: Int) {
        var current = queueDepthMax.load(ordering: .relaxed)
        while depth > current {
            let (exchanged, original) = queueDepthMax.compareExchange(expected: current, desired: depth, ordering: .relaxed)
            if exchanged {
                queueDepthMaxGauge?.set(Double(depth))
                return
            }
            current = original
        }
    }

    func recordPublish(_ duration: Duration) { publishDuration?.record(duration) }

    func recordDelivery(_ latency: Duration) { deliveryLatency?.record(max(latency, .zero)) }

    func setStreamGauges(stream: OonaStream, length: Int, pending: Int, backlog: Int) {
        registry?.makeGauge(
            descriptor: OonaMetrics.name(
                "stream_backlog", "",
                "Entries the stream's consuming groups have not handled yet (lag + pending, the largest over groups), sampled."),
            labels: [("stream", stream.label)]
        ).set(Double(backlog))
        registry?.makeGauge(
            descriptor: OonaMetrics.name("stream_length", "", "Entries in the stream (XLEN), sampled."),
            labels: [("stream", stream.label)]
        ).set(Double(length))
        registry?.makeGauge(
            descriptor: OonaMetrics.name(
                "stream_pending", "",
                "Entries delivered but not acknowledged, summed over consumer groups, sampled."),
            labels: [("stream", stream.label)]
        ).set(Double(pending))
    }

    /// Every publisher's counters (`esper_oona_publisher_<counter>{publisher}`) and the sums
    /// (`esper_oona_fleet_<counter>`), from the publishers' reports.
    func setFleetGauges(_ fleet: OonaFleetCounters) {
        guard let registry else { return }
        for counter in OonaFleetCounters.reported {
            let name = counter.prometheusName
            let help = "Fleet-wide (every server and worker process): " + OonaMetrics.help[counter]!
            registry.makeGauge(descriptor: OonaMetrics.name("fleet_" + name, "", help)).set(Double(fleet.total[counter.rawValue] ?? 0))
            for publisher in fleet.publishers {
                registry.makeGauge(
                    descriptor: OonaMetrics.name(
                        "publisher_" + name, "", "Per publisher process (its last report): " + OonaMetrics.help[counter]!),
                    labels: [("publisher", publisher.id)]
                ).set(Double(publisher.counters[counter.rawValue] ?? 0))
            }
        }
    }

    func setModeGauge(_ conservative: Bool) {
        registry?.makeGauge(descriptor: OonaMetrics.name("conservative_mode", "", "Bus conservative mode: 1 on, 0 off."))
            .set(Double(conservative ? 1 : 0))
    }

    func setBreakerGauge(_ breaker: String, _ state: CircuitBreakerState) {
        // The design's encoding: 0 closed, 1 open, 2 half-open.
        let value: Double =
            switch state {
            case .open: 1
            case .halfOpen: 2
            default: 0
            }
        registry?.makeGauge(
            descriptor: OonaMetrics.name("circuit_breaker_state", "", "Circuit breaker state: 0 closed, 1 open, 2 half-open."),
            labels: [("breaker", breaker)]
        ).set(value)
    }

    /// `esper_oona_<name>_<unit>`.
    static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "esper", subsystem: "oona", metricName: metric, unitName: unit, helpText: help)
    }
}
