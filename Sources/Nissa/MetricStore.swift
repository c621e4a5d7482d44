public import Prometheus
import Synchronization

/// The latest value and a ring buffer of every telemetry series (name × labels), and its
/// Prometheus gauge in the shared registry. Written by the ingest thread, read by HTTP
/// handlers: everything is answered from memory under one lock held for microseconds.
public final class MetricStore: Sendable {
    struct Series {
        var ring: TimeSeriesRing
        let gauge: Gauge?
        let scale: Double
    }

    struct State {
        var series: [SeriesKey: Series] = [:]
        /// Prometheus name → the dotted name that owns it (two dotted names mapping to one
        /// Prometheus name would otherwise fight over one gauge).
        var owners: [String: String] = [:]
        /// Dotted names refused a gauge (name conflict); still kept in the ring buffers.
        var conflicts: Set<String> = []
        var units: [String: String] = [:]
        /// Series keys by their `run` label, so a finished run's series leave together.
        var runSeries: [String: Set<SeriesKey>] = [:]
        /// Finished runs in the order they finished, with the time (ms) they did.
        var finished = FinishedRuns()
    }

    private let state = Mutex(State())
    private let registry: PrometheusCollectorRegistry
    private let capacity: Int
    private let spanMilliseconds: Int64
    private let maxSeries: Int
    private let droppedSeries: Counter
    private let seriesGauge: Gauge
    private let conflictCounter: Counter
    private let retentionMilliseconds: Int64
    private let expiredRuns: Counter
    /// Runs whose series expired: late points for them (a packet still on the bus) would
    /// start series that never expire again, so they are not kept.
    private let expired = RecentIDs(capacity: 100_000)

    /// `finishedRunRetentionSeconds`: how long a finished run's series stay after its
    /// terminal status (`NISSA_FINISHED_RUN_RETENTION_S`).
    public init(
        registry: PrometheusCollectorRegistry, capacity: Int, spanSeconds: Double, maxSeries: Int,
        finishedRunRetentionSeconds: Double = 3600
    ) {
        self.registry = registry
        self.capacity = capacity
        spanMilliseconds = Int64(spanSeconds * 1000)
        self.maxSeries = maxSeries
        retentionMilliseconds = Int64(finishedRunRetentionSeconds * 1000)
        expiredRuns = registry.counter(
            "esper_nissa_runs_expired_total",
            help: "Finished runs whose series were removed (retention passed, or room for a live run's series).")
        droppedSeries = registry.counter(
            "esper_nissa_series_dropped_total",
            help: "Telemetry points not kept because the series limit (NISSA_MAX_SERIES) was reached.")
        seriesGauge = registry.gauge("esper_nissa_series", help: "Telemetry series held in memory (ring buffers).")
        conflictCounter = registry.counter(
            "esper_nissa_metric_name_conflicts_total",
            help: "Telemetry names not exported because their Prometheus name was taken.")
    }

    /// Records one point; `export` false keeps it out of Prometheus (drill packets).
    public func record(_ key: SeriesKey, value: Double, unit: String, at time: Int64, export: Bool = true) {
        let needsGauge = state.withLock { state -> Bool in
            if var series = state.series[key] {
                series.ring.append(time: time, value: value)
                if export { series.gauge?.set(value * series.scale) }
                state.series[key] = series
                return false
            }
            return true
        }
        guard needsGauge else { return }
        if let run = key.label("run"), expired.contains(run) { return }
        // A new series: find (or refuse) its gauge outside our lock — the registry has its own.
        let mapping = MetricNaming.prometheus(key.name)
        let gauge = export ? makeGauge(key, mapping) : nil
        state.withLock { state in
            if state.series[key] == nil {
                // Full: the series of the run that finished first make room (newest data wins).
                while state.series.count >= maxSeries, let oldest = state.finished.popOldest() {
                    removeRun(oldest.run, from: &state)
                }
                guard state.series.count < maxSeries else {
                    droppedSeries.increment()
                    if let gauge { registry.unregisterGauge(gauge) }
                    return
                }
                state.series[key] = Series(
                    ring: TimeSeriesRing(capacity: capacity, spanMilliseconds: spanMilliseconds),
                    gauge: gauge, scale: mapping.scale)
                if let run = key.label("run") { state.runSeries[run, default: []].insert(key) }
                seriesGauge.set(Double(state.series.count))
            }
            if !unit.isEmpty { state.units[key.name] = unit }
            state.series[key]?.ring.append(time: time, value: value)
            if export { state.series[key]?.gauge?.set(value * mapping.scale) }
        }
    }

    private func makeGauge(_ key: SeriesKey, _ mapping: MetricNaming.Mapping) -> Gauge? {
        let claim = state.withLock { state -> Bool? in
            if state.series.count >= maxSeries && state.finished.isEmpty { return false }
            if let owner = state.owners[mapping.prometheusName] { return owner == key.name ? true : false }
            return nil
        }
        if claim == false {
            noteConflict(key.name)
            return nil
        }
        if claim == nil {
            // First sight of this Prometheus name: it must not belong to another module's
            // metric (a type or help mismatch would stop the registry).
            let exposition = registry.emitToString()
            if exposition.contains("# TYPE \(mapping.prometheusName) ") {
                noteConflict(key.name)
                return nil
            }
            let won = state.withLock { state -> Bool in
                if let owner = state.owners[mapping.prometheusName] { return owner == key.name }
                state.owners[mapping.prometheusName] = key.name
                return true
            }
            guard won else {
                noteConflict(key.name)
                return nil
            }
        }
        let help =
            mapping.scale == 1
            ? "Latest value of telemetry metric \(key.name)."
            : "Latest value of telemetry metric \(key.name), in seconds (sent in milliseconds)."
        return registry.gauge(mapping.prometheusName, labels: key.labels.map { ($0.name, $0.value) }, help: help)
    }

    private func noteConflict(_ name: String) {
        let first = state.withLock { $0.conflicts.insert(name).inserted }
        if first { conflictCounter.increment() }
    }

    // MARK: finished runs

    /// Notes that `run` reached a terminal status at `time` (ms); its series leave once the
    /// retention has passed (`expireFinishedRuns`), or earlier when live runs need the room.
    /// A run that finishes again (a redelivered status) keeps its first time.
    public func runFinished(_ run: String, at time: Int64) {
        guard !expired.contains(run) else { return }
        state.withLock { $0.finished.append(run, at: time) }
    }

    /// Removes the series of every run that finished at least the retention before `now`
    /// (ms); returns those runs. Fleet-level series (without a `run` label) are never touched.
    @discardableResult
    public func expireFinishedRuns(now: Int64) -> [String] {
        state.withLock { state in
            var expired: [String] = []
            while let oldest = state.finished.oldest, oldest.time + retentionMilliseconds <= now {
                _ = state.finished.popOldest()
                removeRun(oldest.run, from: &state)
                expired.append(oldest.run)
            }
            return expired
        }
    }

    /// Drops every series labelled with `run` and its gauges (the registry has its own lock,
    /// which is never held while it takes ours).
    private func removeRun(_ run: String, from state: inout State) {
        expiredRuns.increment()
        _ = expired.insert(run)
        guard let keys = state.runSeries.removeValue(forKey: run) else { return }
        for key in keys {
            if let gauge = state.series.removeValue(forKey: key)?.gauge { registry.unregisterGauge(gauge) }
        }
        seriesGauge.set(Double(state.series.count))
    }

    /// Whether `run`'s series expired (it finished longer than the retention ago).
    public func hasExpired(_ run: String) -> Bool { expired.contains(run) }

    /// Runs whose series are held, sorted.
    public func runs() -> [String] { state.withLock { Array($0.runSeries.keys) }.sorted() }

    // MARK: reading

    public var seriesCount: Int { state.withLock { $0.series.count } }

    /// Every series key, sorted.
    public func keys() -> [SeriesKey] { state.withLock { Array($0.series.keys) }.sorted() }

    /// Distinct metric names, sorted.
    public func names() -> [String] { Array(Set(state.withLock { $0.series.keys.map(\.name) })).sorted() }

    public func unit(of name: String) -> String? { state.withLock { $0.units[name] } }

    /// Distinct values of a label, optionally of one metric only.
    public func labelValues(_ label: String, metric: String? = nil) -> [String] {
        let values = state.withLock { state -> Set<String> in
            var values = Set<String>()
            for key in state.series.keys where metric == nil || key.name == metric {
                if let value = key.label(label) { values.insert(value) }
            }
            return values
        }
        return values.sorted()
    }

    /// The series of `name` whose labels include every pair of `filters`, each with its
    /// points in [from, to] (ms), at most `maxPoints` each.
    public func query(
        name: String, filters: [String: String], from: Int64, to: Int64,
        maxPoints: Int
    ) -> [(key: SeriesKey, points: [(time: Int64, value: Double)])] {
        state.withLock { state in
            var result: [(key: SeriesKey, points: [(time: Int64, value: Double)])] = []
            for (key, series) in state.series where key.name == name {
                guard filters.allSatisfy({ key.label($0.key) == $0.value }) else { continue }
                result.append((key, series.ring.range(from: from, to: to, maxPoints: maxPoints)))
            }
            return result.sorted { $0.key < $1.key }
        }
    }

    /// The latest value of every series of `name`.
    public func latest(name: String) -> [(key: SeriesKey, time: Int64, value: Double)] {
        state.withLock { state in
            state.series.compactMap { key, series in
                guard key.name == name, let last = series.ring.last else { return nil }
                return (key, last.time, last.value)
            }.sorted { $0.key < $1.key }
        }
    }
}
