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
    /// Normal-stream backlog (`OonaBacklog`: what its consuming groups have not handled yet)
    /// at which normal-bound publishes go to the emergency stream.
    public var emergencyThreshold: Int? = 4000
    /// Normal-stream backlog at which normal-bound publishes are refused (must exceed
    /// `emergencyThreshold`).
    public var backpressureDropThreshold: Int? = 8000
    /// Emergency-stream backlog at which emergency-bound publishes are refused. Nil: the
    /// `backpressureDropThreshold` applies (so the emergency stream cannot grow without
    /// limit, which the reference allowed).
    public var emergencyDropThreshold: Int?
    /// Publishers measure the backlogs the thresholds apply to (`XINFO GROUPS`) at most this
    /// often — or after `backlogRefreshPublishes` throttled writes, whichever comes first; in
    /// between they add their own writes to the last measurement. Zero: before every batch
    /// and after every round trip (the reference's per-publish check).
    public var backlogRefreshInterval: Duration = .milliseconds(100)
    public var backlogRefreshPublishes = 64

    // Conservative mode (`OonaBusMode`).
    /// Bus backlog at which the housekeeper turns conservative mode on by itself (after
    /// `conservativeSustainSamples` samples in a row); nil: never automatically.
    public var conservativeOnBacklog: Int? = 2000
    /// Backlog at or below which an automatic conservative mode turns off again (after as
    /// many samples); nil: a quarter of `conservativeOnBacklog`.
    public var conservativeOffBacklog: Int?
    public var conservativeSustainSamples = 5
    /// In conservative mode, one telemetry-detail packet in this many is published.
    public var conservativeTelemetrySample = 10
    /// Whether this process' housekeeper may switch the mode automatically (the server's
    /// does; workers only follow).
    public var conservativeAuto = true
    /// Publishers (processes) silent this long are removed from the fleet's counters.
    public var publisherForgetAfter: Duration = .seconds(3600)
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
        positive("conservative_on_backlog", conservativeOnBacklog)
        if let on = conservativeOnBacklog, let off = conservativeOffBacklog, off >= on || off < 0 {
            problems.append(
                "conservative_off_backlog (\(off)) must be below conservative_on_backlog (\(on)) and not negative: that gap is the hysteresis"
            )
        }
        if conservativeSustainSamples < 1 { problems.append("conservative_sustain_samples must be at least 1") }
        if conservativeTelemetrySample < 1 { problems.append("conservative_telemetry_sample must be at least 1") }
        if backlogRefreshPublishes < 1 { problems.append("backlog_refresh_publishes must be at least 1") }
        if backlogRefreshInterval < .zero { problems.append("backlog_refresh_interval must not be negative") }
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
