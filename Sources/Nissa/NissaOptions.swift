/// Everything Nissa is configured with (`NISSA_*` variables; `Configuration` validates them
/// and builds this value).
public struct NissaOptions: Sendable {
    /// Consumer group on the emergency, telemetry and normal streams.
    public var group = "nissa"
    /// How far back each ring buffer keeps points (range queries, Grafana).
    public var seriesSpanSeconds: Double = 3600
    /// Points per series at most (the ring's capacity).
    public var seriesMaxPoints = 10_000
    /// Distinct series (metric name × labels) at most; more are counted and not kept.
    public var maxSeries = 5000
    /// How long a finished run's series (labelled `run`) stay after its terminal status
    /// (`NISSA_FINISHED_RUN_RETENTION_S`); at the series limit the earliest finished run's
    /// series leave sooner, so live runs' points are kept.
    public var finishedRunRetentionSeconds: Double = 3600
    /// Alert records kept (pending, firing, resolved); firing ones are evicted last.
    public var alertHistory = 1000
    /// The alert rules (`alert_rules.json`); nil: the built-in rules of the spec.
    public var rules: AlertRuleSet = .builtIn
    /// Receiver name (`slack`, `pagerduty`, `email`) → webhook URL.
    public var receivers: [String: String] = [:]
    /// A real Alertmanager (`http://host:9093`); alerts are also posted to its `/api/v2/alerts`.
    public var alertmanagerURL: String?
    /// How often firing alerts are re-sent to the Alertmanager (it expires them otherwise).
    public var alertmanagerResendSeconds: Double = 60
    /// `externalURL` / `generatorURL` base in the webhook payloads.
    public var externalURL = "http://127.0.0.1:8080"
    public var webhookTimeoutMilliseconds = 5000
    /// Quick attempts (with doubling backoff from `webhookBackoffMilliseconds`) before a
    /// delivery is parked as undeliverable; parked ones are retried every
    /// `webhookParkedRetrySeconds`, never dropped.
    public var webhookMaxAttempts = 4
    public var webhookBackoffMilliseconds = 1000
    public var webhookParkedRetrySeconds: Double = 60
    /// Delivery log entries kept (undelivered ones are never evicted).
    public var deliveryLogSize = 1000
    /// Undelivered (queued, retrying, parked) notifications kept at most; past it the oldest
    /// is dead-lettered to `<data>/nissa/dead-letters.log` (`NISSA_PARKED_MAX`).
    public var parkedMax = 10_000
    /// Resolved alerts and settled deliveries older than this leave `nissa.db`
    /// (`NISSA_RETENTION_DAYS`); the counts above bound it too.
    public var retentionDays: Double = 30
    /// SLO: fraction of samples that must meet their objective.
    public var sloTarget = 0.99
    /// The error-budget window (long) and the fast-burn window (short).
    public var sloLongWindowSeconds: Double = 30 * 86_400
    public var sloShortWindowSeconds: Double = 3600
    /// Short-window burn rate at which an SLO counts as breached (with the long window ≥ 1).
    public var sloFastBurnThreshold = 14.4

    /// How long a drill holds its alert firing before it resolves it: at least one
    /// Alertmanager resend, so that Alertmanager lists the drill alert and routing can be
    /// seen end to end (`NISSA_DRILL_HOLD_S`).
    public var drillHoldSeconds: Double = 60

    public init() {}
}
