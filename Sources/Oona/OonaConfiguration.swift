import Foundation
public import Leyline

/// Everything an Oona client needs: where the streams are, which group and consumer name it
/// uses, the backpressure and retention rules, retry and breaker settings, signing keys.
public struct OonaConfiguration: Sendable {
    public var streams = OonaStreamNames()
    /// The consumer group this process reads with (other modules may use their own).
    public var group = "esper"
    /// Unique per process by default (host + pid), so two processes never share a consumer
    /// name and each other's pending entries (the reference defaulted every process to
    /// `oona-client`).
    public var consumerName = OonaConfiguration.defaultConsumerName()
    /// Subsystem name stamped on envelopes this client publishes.
    public var sourceSubsystem = "esper"

    // Backpressure and retention.
    /// Every XADD trims to this length (`MAXLEN ~ N`; `MAXLEN = N` with `exactTrimming`).
    /// Default: `SystemLimits.maxQueueDepth` (10 000).
    public var maxStreamLength: Int? = SystemLimits.standard.maxQueueDepth
    /// Exact trimming costs more CPU on Redis; tests that assert lengths use it.
    public var exactTrimming = false
    /// Normal-stream length at which normal-bound publishes go to the emergency stream.
    public var emergencyThreshold: Int? = 4000
    /// Normal-stream length at which normal-bound publishes are refused (must exceed
    /// `emergencyThreshold`).
    public var backpressureDropThreshold: Int? = 8000
    /// Emergency-stream length at which emergency-bound publishes are refused. Nil: the
    /// `backpressureDropThreshold` applies (so the emergency stream cannot grow without
    /// limit, which the reference allowed).
    public var emergencyDropThreshold: Int?
    /// Default envelope TTL, and the age after which the housekeeper trims entries
    /// (`XTRIM MINID`).
    public var messageTTL: Duration = .seconds(3600)

    // Delivery.
    /// Entries pending longer than this are claimed by other consumers (`XAUTOCLAIM`).
    public var claimMinIdle: Duration = .seconds(30)
    /// How often a consumer looks for entries to claim.
    public var claimInterval: Duration = .seconds(5)
    /// Deliveries after which an entry goes to the dead-letter stream.
    public var maxAttempts = SystemLimits.standard.maxRetryAttempts

    // Faults.
    public var breakerFailureThreshold = 3
    public var breakerRecovery: Duration = .seconds(Int64(PerformanceBudgets.standard.breakerResetSeconds))
    public var breakerHalfOpenTrials = 5
    public var connectTimeout: Duration = .milliseconds(500)
    public var commandTimeout: Duration = .seconds(2)

    // Housekeeping.
    /// How often stream statistics (lengths, pending) are sampled for `/api/v1/oona/*` and
    /// Prometheus.
    public var statsInterval: Duration = .seconds(1)
    /// How often the TTL sweep runs.
    public var housekeepingInterval: Duration = .seconds(60)
    /// How often stream depths are published as telemetry (`oona.queue.depth`,
    /// `oona.queue.pending` per stream) for Nissa's queue-depth alert; nil: never.
    public var queueDepthTelemetryInterval: Duration? = nil

    /// Signing: nil means off (every entry accepted, nothing signed).
    public var signer: LeylineSigner?

    public init() {}

    public static func defaultConsumerName() -> String {
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        return "\(host)-\(getpid())"
    }

    /// The emergency drop threshold in force.
    public var effectiveEmergencyDropThreshold: Int? { emergencyDropThreshold ?? backpressureDropThreshold }

    /// Every inconsistency, each naming the setting.
    public var problems: [String] {
        var problems: [String] = []
        func positive(_ name: String, _ value: Int?) {
            if let value, value <= 0 { problems.append("\(name) must be positive (got \(value))") }
        }
        positive("max_stream_length", maxStreamLength)
        positive("emergency_threshold", emergencyThreshold)
        positive("backpressure_drop_threshold", backpressureDropThreshold)
        positive("emergency_drop_threshold", emergencyDropThreshold)
        if let emergency = emergencyThreshold, let drop = backpressureDropThreshold, drop <= emergency {
            problems.append(
                "backpressure_drop_threshold (\(drop)) must be greater than emergency_threshold (\(emergency)); otherwise publishes are dropped before they are ever rerouted"
            )
        }
        if let maxLength = maxStreamLength, let drop = backpressureDropThreshold, drop > maxLength {
            problems.append(
                "backpressure_drop_threshold (\(drop)) must not exceed max_stream_length (\(maxLength)); trimming would keep the stream below it and nothing would ever be dropped"
            )
        }
        if maxAttempts < 1 { problems.append("max_attempts must be at least 1 (got \(maxAttempts))") }
        if breakerFailureThreshold < 1 { problems.append("breaker_failure_threshold must be at least 1") }
        if breakerHalfOpenTrials < 1 { problems.append("breaker_half_open_trials must be at least 1") }
        for (name, value) in [
            ("message_ttl", messageTTL), ("claim_min_idle", claimMinIdle), ("claim_interval", claimInterval),
            ("breaker_recovery", breakerRecovery), ("connect_timeout", connectTimeout),
            ("command_timeout", commandTimeout), ("stats_interval", statsInterval),
            ("housekeeping_interval", housekeepingInterval),
            ("queue_depth_telemetry_interval", queueDepthTelemetryInterval ?? .seconds(1)),
        ] where value <= .zero {
            problems.append("\(name) must be positive")
        }
        let names = [streams.normal, streams.emergency, streams.telemetry, streams.policy]
        if Set(names).count != names.count { problems.append("the four stream names must differ") }
        for name in names where name.isEmpty || name.contains(where: { $0.isWhitespace }) || name.hasSuffix(OonaStreamKeys.deadLetterSuffix)
        {
            problems.append("stream name '\(name)' must be non-empty, without spaces, and not end in \(OonaStreamKeys.deadLetterSuffix)")
        }
        if group.isEmpty || group.contains(where: { $0.isWhitespace }) {
            problems.append("group '\(group)' must be non-empty without spaces")
        }
        if consumerName.isEmpty || consumerName.contains(where: { $0.isWhitespace }) {
            problems.append("consumer name '\(consumerName)' must be non-empty without spaces")
        }
        return problems
    }
}
