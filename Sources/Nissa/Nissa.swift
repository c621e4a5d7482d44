// Nissa: Esper's observability — drains telemetry, state packets and field reports from
// Oona (its own consumer group; emergency stream first), keeps metrics and ring-buffer time
// series, evaluates alert rules (data), delivers alerts in the Alertmanager format, tracks
// SLO burn rates, runs fault drills and answers Grafana's JSON-datasource queries.
import Foundation
public import Leyline
public import Logging
public import Oona
public import Prometheus
import Synchronization

/// The Nissa service of one server. `ingest` is the one path every message takes — the
/// consumer thread, drills and tests call it; it only touches memory, so HTTP handlers may
/// call it too (drills) and read everything without blocking.
public final class NissaService: LongRunningService {
    public let options: NissaOptions
    public let store: MetricStore
    public let alerts: AlertEngine
    public let notifier: AlertNotifier
    public let slo: SLOTracker
    public let lifecycle: LifecycleLog
    public let name = "nissa"
    private let registry: PrometheusCollectorRegistry
    private let bus: OonaClient?
    private let logger: Logger
    private let seen = RecentIDs(capacity: 100_000)
    /// Ids of packets handed over directly (`ingestBeforeBus`) whose copy on the bus is
    /// expected: that copy is not a redelivery and is not counted as a duplicate.
    private let expectedEchoes = Mutex<Set<String>>([])
    /// Run ids from the run registry (Tolaria), for Grafana variables.
    private let registryRuns: @Sendable () -> [String]

    /// The telemetry, emergency and normal streams in Nissa's own group (nil without a bus).
    private let subscription: OonaSubscription?

    private struct State {
        var lastIngest: Int64?
        var runs = Set<String>()
        var seeds = Set<String>()
    }

    private let state = Mutex(State())
    private let drillLock = Mutex(())
    /// Alerts, deliveries and SLO samples on disk (nil: memory only, as in unit tests).
    public let stateStore: NissaStateStore?
    private let nextPrune = Mutex<Int64>(0)
    /// Drills holding their alert, and each rule's latest drill.
    public let drillBook = DrillBook()

    private let packetsDuplicate: Counter
    private let ingestDuration: DurationHistogram
    private let lastIngestGauge: Gauge
    private let trainingRuns: Counter
    private let rewardSum: Gauge
    private let iterations: Counter

    /// Run statuses after which a run sends nothing more (Tolaria's `RunStatus.isFinished`).
    static let terminalStatuses: Set<String> = ["succeeded", "failed", "cancelled"]

    /// The streams Nissa reads, in priority order.
    public static let streams: [OonaStream] = [.emergency, .telemetry, .normal]

    public init(
        options: NissaOptions, registry: PrometheusCollectorRegistry, bus: OonaClient?, logger: Logger,
        runs: @escaping @Sendable () -> [String] = { [] }, stateStore: NissaStateStore? = nil
    ) {
        self.options = options
        self.registry = registry
        self.bus = bus
        self.logger = logger
        registryRuns = runs
        // The group starts at the streams' ends (`$`): history from before Nissa's first
        // start is not replayed.
        subscription = bus.map { bus in
            OonaSubscription(
                client: bus,
                options: .init(
                    streams: NissaService.streams, group: options.group, consumer: "nissa-" + bus.configuration.consumerName,
                    // Metrics and alerts can wait 10 ms: a create's status event then shares
                    // its read and acknowledgement with the others of those 10 ms.
                    count: 100, block: .milliseconds(250), linger: .milliseconds(10), threadName: "esper-nissa-consumer"))
        }
        store = MetricStore(
            registry: registry, capacity: options.seriesMaxPoints, spanSeconds: options.seriesSpanSeconds,
            maxSeries: options.maxSeries, finishedRunRetentionSeconds: options.finishedRunRetentionSeconds)
        let alerts = AlertEngine(rules: options.rules, capacity: options.alertHistory, registry: registry)
        self.alerts = alerts
        let rules = options.rules
        notifier = AlertNotifier(options: options, registry: registry, logger: logger) {
            alerts.firing().compactMap { alert in rules.rule(named: alert.rule).map { (alert, $0) } }
        }
        slo = SLOTracker(options: options, registry: registry)
        lifecycle = LifecycleLog()
        self.stateStore = stateStore
        packetsDuplicate = registry.counter(
            "esper_nissa_duplicates_total",
            help: "Redelivered messages recognised by id and not counted again.")
        ingestDuration = registry.durationHistogram(
            "esper_nissa_ingest_duration_seconds",
            buckets: [
                .microseconds(10), .microseconds(50), .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5),
                .milliseconds(10), .milliseconds(50),
            ],
            help: "Time to ingest one message (metrics, alerts, SLOs).")
        lastIngestGauge = registry.gauge(
            "esper_nissa_last_ingest_timestamp_seconds",
            help: "Unix time of the last message Nissa ingested.")
        trainingRuns = registry.counter(
            "esper_training_runs_total",
            help: "Training runs seen on the bus (first state packet of each run id).")
        rewardSum = registry.gauge(
            "esper_simic_training_reward_cumulative",
            help: "Sum of simic.training.reward over all Simic packets (may be negative).")
        iterations = registry.counter(
            "esper_simic_training_iterations_total",
            help: "Simic training iterations (simic.training.iterations, else 1 per packet).")
        for outcome in FieldReportOutcome.allCases {
            _ = registry.counter(
                "esper_field_reports_total", labels: [("outcome", outcome.label)],
                help: "Field reports ingested, by outcome.")
        }
        if let stateStore { restore(from: stateStore) }
    }

    /// Takes up the state an earlier run saved (alerts with acks, the delivery log with every
    /// pending and parked notification, SLO samples) and writes later changes through.
    private func restore(from store: NissaStateStore) {
        prune(now: LeylineTimestamp.now().millisecondsSinceEpoch)
        alerts.restore(from: store)
        slo.restore(from: store)
        notifier.restore(from: store) { [weak self] total in self?.raiseDeadLetterAlert(total: total) }
        let counts = store.counts()
        logger.info(
            "nissa state restored",
            metadata: [
                "file": "\(store.path)", "alerts": "\(counts["alerts"] ?? 0)", "deliveries": "\(counts["deliveries"] ?? 0)",
                "slo_samples": "\(counts["slo_samples"] ?? 0)",
            ])
    }

    /// Retention: at start and then at most every ten minutes (from ingest).
    private func prune(now: Int64) {
        guard let stateStore else { return }
        let due = nextPrune.withLock { next -> Bool in
            guard now >= next else { return false }
            next = now + 600_000
            return true
        }
        guard due else { return }
        stateStore.prune(
            before: now - Int64(options.retentionDays * 86_400_000), sloBefore: now - Int64(options.sloLongWindowSeconds * 1000),
            maxSamplesPerKey: SLOTracker.maxSamplesPerKey)
    }

    /// A notification was dead-lettered: the metric `nissa.notifications.dead_lettered` (the
    /// count so far in this process) goes through the rules like any telemetry, so the rule
    /// `nissa_notifications_dead_lettered` fires.
    private func raiseDeadLetterAlert(total: Int) {
        let packet = TelemetryPacket.build(
            packetId: "nissa-dead-letter-\(UUID().uuidString.lowercased())", source: "nissa", level: .critical,
            metrics: [MetricPoint(name: "nissa.notifications.dead_lettered", value: Double(total), unit: "count")],
            healthSummary: "notifications dead-lettered")
        ingest(.telemetry(packet))
    }

    // MARK: lifecycle

    /// Starts the notifier and, with a bus, the consumer thread. The first attempt to create
    /// the group is made at once, so a server that starts with Redis up reports ready at once;
    /// after that the subscription retries until Redis answers or Nissa stops.
    public func start() {
        notifier.start()
        subscription?.start(attachNow: true) { [self] delivery in _ = ingest(delivery.message) }
    }

    /// Stops the consumer (within one poll's block time) and the notifier.
    public func stop() {
        subscription?.stop()
        notifier.stop()
    }

    // MARK: ingest

    /// Ingests one bus message. Returns false for a duplicate (already ingested) or a type
    /// Nissa ignores (commands, policy updates).
    @discardableResult
    public func ingest(_ message: BusMessage, receivedAt: Int64? = nil) -> Bool {
        let start = ContinuousClock.now
        let now = receivedAt ?? LeylineTimestamp.now().millisecondsSinceEpoch
        let handled: Bool
        switch message {
        case .telemetry(let packet): handled = ingestTelemetry(packet, now: now) != nil
        case .systemState(let packet): handled = ingestState(packet, now: now)
        case .fieldReport(let report): handled = ingestFieldReport(report)
        default: return false
        }
        guard handled else { return false }
        state.withLock { $0.lastIngest = now }
        expireFinishedRuns(now: now)
        prune(now: now)
        lastIngestGauge.set(Double(now) / 1000)
        ingestDuration.record(ContinuousClock.now - start)
        return true
    }

    /// Drops the series of runs finished longer than the retention ago, and their ids from
    /// the Grafana variables.
    private func expireFinishedRuns(now: Int64) {
        let expired = store.expireFinishedRuns(now: now)
        guard !expired.isEmpty else { return }
        state.withLock { state in
            for run in expired { state.runs.remove(run) }
        }
    }

    /// Ingests a message this process also publishes on the bus (the server's first
    /// queue-depth report, so its families exist at once); the bus copy is dropped silently.
    public func ingestBeforeBus(_ message: BusMessage) {
        if case .telemetry(let packet) = message, !packet.packetId.isEmpty {
            let source = packet.sourceSubsystem.isEmpty ? "unknown" : packet.sourceSubsystem
            _ = expectedEchoes.withLock { $0.insert("telemetry|\(source)|\(packet.packetId)") }
        }
        ingest(message)
    }

    func withDrillLock<T>(_ body: () -> T) -> T { drillLock.withLock { _ in body() } }

    /// A drill packet through the real ingest; returns the transitions it caused.
    func ingestDrill(_ packet: TelemetryPacket) -> [AlertTransition] {
        ingestTelemetry(packet, now: LeylineTimestamp.now().millisecondsSinceEpoch) ?? []
    }

    private func firstSight(_ kind: String, _ id: String, source: String = "") -> Bool {
        // Messages without an id cannot be recognised again; they are always counted.
        guard !id.isEmpty else { return true }
        let key = "\(kind)|\(source)|\(id)"
        if seen.insert(key) { return true }
        if expectedEchoes.withLock({ $0.remove(key) }) == nil { packetsDuplicate.increment() }
        return false
    }

    /// nil for a duplicate; else the alert transitions the packet caused.
    private func ingestTelemetry(_ packet: TelemetryPacket, now: Int64) -> [AlertTransition]? {
        let source = packet.sourceSubsystem.isEmpty ? "unknown" : packet.sourceSubsystem
        guard firstSight("telemetry", packet.packetId, source: source) else { return nil }
        registry.counter(
            "esper_telemetry_packets_total", labels: [("source", source)],
            help: "Telemetry packets ingested, by source subsystem."
        ).increment()
        // The packet's own time when it has one; a zero timestamp means "not set".
        let time = packet.timestamp == .epoch || !packet.timestamp.isValid ? now : packet.timestamp.millisecondsSinceEpoch
        let drill = packet.packetId.hasPrefix("drill-")
        var values: [String: [Double]] = [:]
        var latest: [String: Double] = [:]
        for point in packet.metrics where point.value.isFinite {
            values[point.name, default: []].append(point.value)
            latest[point.name] = point.value
            guard !drill else { continue }
            let labels = MetricNaming.labels(attributes: point.attributes, source: source)
            store.record(SeriesKey(name: point.name, labels: labels), value: point.value, unit: point.unit, at: time)
            noteLabels(labels)
        }
        var transitions: [AlertTransition] = []
        if !values.isEmpty {
            transitions = alerts.evaluate(values, source: source, at: time, drill: drill)
            for transition in transitions {
                notifier.enqueue(transition)
                let alert = transition.alert
                lifecycle.append(
                    LifecycleLog.Entry(
                        time: time, kind: "alert", title: "\(alert.rule) \(alert.state.rawValue)",
                        text: "\(alert.metric) = \(alert.value) from \(alert.source) (\(alert.comparator.rawValue) \(alert.threshold))",
                        tags: ["alert", alert.severity.rawValue, alert.state.rawValue] + (alert.drill ? ["drill"] : []), source: source))
            }
            if !drill { slo.ingest(latest, at: time) }
        }
        if !transitions.isEmpty { publishAlertChanges(transitions) }
        if source == "simic" && !drill {
            rewardSum.increment(by: latest["simic.training.reward"] ?? 0)
            if let count = latest["simic.training.iterations"], count > 0 {
                iterations.increment(by: Int64(count))
            } else {
                iterations.increment()
            }
        }
        // A run's terminal status (`run_status` from the run service): its series may expire.
        for event in packet.events where event.description == "run_status" {
            guard let run = event.attributes["run_id"], !run.isEmpty,
                let status = event.attributes["status"], NissaService.terminalStatuses.contains(status)
            else { continue }
            store.runFinished(run, at: now)
        }
        // Nissa's own alert announcements are in the lifecycle log already (as alerts).
        for event in packet.events where event.level.rawValue >= TelemetryLevel.warning.rawValue && source != "nissa" {
            lifecycle.append(
                LifecycleLog.Entry(
                    time: time, kind: "event", title: event.description.isEmpty ? event.eventId : event.description,
                    text: event.attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "),
                    tags: ["event", event.level.label], source: source))
        }
        return transitions
    }

    /// Announces alert changes on the bus (telemetry from `nissa`, one `alert_<state>` event
    /// each), so every server's event hub — not only this one's — streams them to SSE
    /// clients, resumable like every other event. Best effort: a failure is only logged.
    private func publishAlertChanges(_ transitions: [AlertTransition]) {
        guard let bus else { return }
        let events = transitions.map { transition in
            let alert = transition.alert
            let level: TelemetryLevel =
                alert.state == .resolved ? .info : alert.severity == .critical ? .critical : alert.severity == .warning ? .warning : .info
            return TelemetryEvent(
                description: "alert_\(alert.state.rawValue)", level: level,
                attributes: [
                    "alert_id": alert.id, "rule": alert.rule, "state": alert.state.rawValue, "severity": alert.severity.rawValue,
                    "metric": alert.metric, "source": alert.source, "value": String(alert.value), "threshold": String(alert.threshold),
                    "comparator": alert.comparator.rawValue, "summary": alert.summary, "drill": alert.drill ? "true" : "false",
                ])
        }
        let first = transitions[0].alert
        let packet = TelemetryPacket.build(
            packetId: "nissa-alert-\(first.id)-\(first.state.rawValue)-\(first.updatedAt.millisecondsSinceEpoch)-\(first.consecutive)",
            source: "nissa",
            level: events.map(\.level).max { $0.rawValue < $1.rawValue } ?? .info, metrics: [], events: events,
            healthSummary: "alert changes")
        do {
            try bus.publishTelemetry(packet, options: PublishOptions(source: "nissa"))
        } catch {
            logger.debug("nissa could not publish alert changes", metadata: ["error": "\(error)"])
        }
    }

    private func ingestState(_ packet: SystemStatePacket, now: Int64) -> Bool {
        guard firstSight("state", packet.packetId) else { return false }
        // SystemStatePacket has no phase field: the reference labelled bus packets by source.
        var phase = packet.sourceSubsystem.isEmpty ? "tolaria" : packet.sourceSubsystem.lowercased()
        if phase.hasPrefix("training_phase_") { phase.removeFirst("training_phase_".count) }
        registry.counter(
            "esper_system_state_packets_total", labels: [("phase", phase)],
            help: "System state packets ingested, by phase (the source subsystem)."
        ).increment()
        let time = packet.timestampNs == 0 ? now : Int64(packet.timestampNs / 1_000_000)
        let run = packet.trainingRunId
        if !run.isEmpty {
            let first = !store.hasExpired(run) && state.withLock { $0.runs.count < 100_000 ? $0.runs.insert(run).inserted : false }
            if first {
                trainingRuns.increment()
                lifecycle.append(
                    LifecycleLog.Entry(
                        time: time, kind: "run", title: "run \(run) seen",
                        text: "first state packet (epoch \(packet.currentEpoch))", tags: ["run"], source: phase))
            }
        }
        let runAttributes = run.isEmpty ? [:] : ["run": run]
        for seed in packet.seedStates where !seed.seedId.isEmpty {
            let labels = MetricNaming.labels(attributes: runAttributes.merging(["seed": seed.seedId]) { $1 }, source: phase)
            store.record(SeriesKey(name: "tolaria.seed.stage", labels: labels), value: Double(seed.stage.rawValue), unit: "stage", at: time)
            noteLabels(labels)
        }
        return true
    }

    private func ingestFieldReport(_ report: FieldReport) -> Bool {
        guard firstSight("report", report.reportId) else { return false }
        registry.counter(
            "esper_field_reports_total", labels: [("outcome", report.outcome.label)],
            help: "Field reports ingested, by outcome."
        ).increment()
        return true
    }

    private func noteLabels(_ labels: [SeriesLabel]) {
        let run = labels.first { $0.name == "run" }?.value
        let seed = labels.first { $0.name == "seed" }?.value
        guard run != nil || seed != nil else { return }
        if let run, store.hasExpired(run) { return }
        state.withLock { state in
            if let run, state.runs.count < 100_000 { state.runs.insert(run) }
            if let seed, state.seeds.count < 100_000 { state.seeds.insert(seed) }
        }
    }

    // MARK: reading

    /// Run ids known from the bus and from the run registry, sorted; not those whose series
    /// expired (nothing left to show).
    public func runIds() -> [String] {
        let fromBus = state.withLock { $0.runs }
        return fromBus.union(registryRuns()).filter { !store.hasExpired($0) }.sorted()
    }

    public func seedIds() -> [String] { state.withLock { Array($0.seeds) }.sorted() }

    /// For `/healthz`: whether the consumer is attached and when it last ingested.
    public var health: ServiceHealth {
        let lastIngest = state.withLock { $0.lastIngest }
        let last =
            lastIngest.map { "last ingest \(LeylineTimestamp(nanosecondsSinceEpoch: $0 * 1_000_000).rfc3339)" } ?? "nothing ingested yet"
        let firing = alerts.firing().filter { !$0.drill }.count
        if let status = subscription?.status, status.running && !status.groupReady {
            return ServiceHealth(
                healthy: false, detail: "consumer group '\(options.group)' not ready: \(status.lastError ?? "waiting for Redis")")
        }
        if let failure = stateStore?.health {
            return ServiceHealth(healthy: false, detail: "state not saved: \(failure)")
        }
        return ServiceHealth(
            healthy: true, detail: "group '\(options.group)' on emergency, telemetry, normal; \(last); \(firing) alert(s) firing")
    }
}
