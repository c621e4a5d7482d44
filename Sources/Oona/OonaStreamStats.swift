public import Leyline

/// One consumer group on one stream, as `XINFO GROUPS` and `XPENDING` report it.
public struct OonaGroupStats: Sendable, Equatable, Codable {
    public var name: String
    public var consumers: Int
    /// Delivered but not yet acknowledged.
    public var pending: Int
    public var lastDeliveredId: String
    /// Entries not yet delivered to the group (Redis ≥ 7; nil when Redis cannot tell).
    public var lag: Int?
    /// Age of the oldest pending entry (from its id's timestamp), 0 when none is pending.
    public var oldestPendingAgeMs: Int

    public init(name: String, consumers: Int, pending: Int, lastDeliveredId: String, lag: Int?, oldestPendingAgeMs: Int) {
        self.name = name
        self.consumers = consumers
        self.pending = pending
        self.lastDeliveredId = lastDeliveredId
        self.lag = lag
        self.oldestPendingAgeMs = oldestPendingAgeMs
    }

    enum CodingKeys: String, CodingKey {
        case name, consumers, pending, lastDeliveredId = "last_delivered_id", lag, oldestPendingAgeMs = "oldest_pending_age_ms"
    }

    /// Every field is written, `lag` as null when unknown (a stable shape for scripts).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(consumers, forKey: .consumers)
        try container.encode(pending, forKey: .pending)
        try container.encode(lastDeliveredId, forKey: .lastDeliveredId)
        if let lag { try container.encode(lag, forKey: .lag) } else { try container.encodeNil(forKey: .lag) }
        try container.encode(oldestPendingAgeMs, forKey: .oldestPendingAgeMs)
    }
}

/// One stream: length, groups, pending, consumers, oldest pending age, dead letters.
public struct OonaStreamStats: Sendable, Equatable, Codable {
    public var stream: String
    public var key: String
    public var length: Int
    /// What the consuming groups have not handled yet (`OonaBacklog`): the pressure
    /// backpressure, the queue-depth metrics and the alert use.
    public var backlog: Int
    /// Summed over groups.
    public var pending: Int
    /// Summed over groups.
    public var consumers: Int
    /// The oldest over groups.
    public var oldestPendingAgeMs: Int
    public var deadLetterKey: String
    public var deadLetterLength: Int
    public var groups: [OonaGroupStats]
}

/// A sample of every stream, with when it was taken.
public struct OonaStreamsReport: Sendable, Equatable, Codable {
    public var streams: [OonaStreamStats]
    public var sampledAt: LeylineTimestamp
    /// Set when the latest attempt to sample failed (the figures are then from `sampled_at`).
    public var error: String?

    public func stream(_ stream: OonaStream) -> OonaStreamStats? { streams.first { $0.stream == stream.label } }
}

/// The reference's `metrics_snapshot()` keys plus ours, all numbers.
public struct OonaMetricsSnapshot: Sendable, Equatable, Codable {
    public var publishTotal: Int
    public var publishRerouted: Int
    public var publishDropped: Int
    /// Telemetry detail conservative mode sampled out.
    public var publishShed: Int
    public var queueDepthMax: Int
    public var queueDepthNormal: Int
    public var queueDepthEmergency: Int
    public var publishFailed: Int
    public var consumed: Int
    public var acked: Int
    public var handlerFailed: Int
    public var reclaimed: Int
    public var deadLettered: Int
    public var signatureRejected: Int
    public var expired: Int
    public var versionMismatch: Int
    public var unknownFieldsIgnored: Int
    public var reconnects: Int
    /// 0 closed, 1 open, 2 half-open (the design's gauge encoding).
    public var circuitBreakerPublish: Int
    public var circuitBreakerConsume: Int
    /// XLEN per stream, from the last sample.
    public var streamLength: [String: Int]
    /// Pending entries per stream (all groups), from the last sample.
    public var streamPending: [String: Int]
    /// Backlog per stream (what its consuming groups have not handled yet), from the last
    /// sample: `queue_depth_*` are these figures.
    public var streamBacklog: [String: Int]
    /// Age of the stream figures; -1 when no sample has succeeded yet.
    public var statsAgeMs: Int
    /// Bus conservative mode (`GET /api/v1/oona/mode`).
    public var conservativeMode: Bool
    /// Every publisher process (server and workers) with its counters, and their sums.
    public var publishers: [OonaFleetCounters.Publisher]
    public var fleet: [String: Int]

    init(
        metrics: OonaMetrics, streams: OonaStreamsReport?, publishBreaker: CircuitBreakerState, consumeBreaker: CircuitBreakerState,
        mode: OonaModeState = .initial, fleet: OonaFleetCounters = .empty
    ) {
        publishTotal = metrics.value(.publishTotal)
        publishRerouted = metrics.value(.publishRerouted)
        publishDropped = metrics.value(.publishDropped)
        publishShed = metrics.value(.publishShed)
        queueDepthMax = metrics.queueDepthMaxValue
        queueDepthNormal = streams?.stream(.normal)?.backlog ?? 0
        queueDepthEmergency = streams?.stream(.emergency)?.backlog ?? 0
        conservativeMode = mode.conservative
        publishers = fleet.publishers
        var totals: [String: Int] = [:]
        for counter in OonaFleetCounters.reported { totals[counter.rawValue] = fleet.total[counter.rawValue] ?? 0 }
        self.fleet = totals
        publishFailed = metrics.value(.publishFailed)
        consumed = metrics.value(.consumed)
        acked = metrics.value(.acked)
        handlerFailed = metrics.value(.handlerFailed)
        reclaimed = metrics.value(.reclaimed)
        deadLettered = metrics.value(.deadLettered)
        signatureRejected = metrics.value(.signatureRejected)
        expired = metrics.value(.expired)
        versionMismatch = metrics.value(.versionMismatch)
        unknownFieldsIgnored = metrics.value(.unknownFieldsIgnored)
        reconnects = metrics.value(.reconnects)
        circuitBreakerPublish = OonaMetricsSnapshot.encode(publishBreaker)
        circuitBreakerConsume = OonaMetricsSnapshot.encode(consumeBreaker)
        var lengths: [String: Int] = [:]
        var pending: [String: Int] = [:]
        var backlogs: [String: Int] = [:]
        for stats in streams?.streams ?? [] {
            lengths[stats.stream] = stats.length
            pending[stats.stream] = stats.pending
            backlogs[stats.stream] = stats.backlog
        }
        streamLength = lengths
        streamPending = pending
        streamBacklog = backlogs
        if let sampledAt = streams?.sampledAt {
            statsAgeMs = Int(max(0, LeylineTimestamp.now().millisecondsSinceEpoch - sampledAt.millisecondsSinceEpoch))
        } else {
            statsAgeMs = -1
        }
    }

    static func encode(_ state: CircuitBreakerState) -> Int {
        switch state {
        case .open: 1
        case .halfOpen: 2
        default: 0
        }
    }
}
