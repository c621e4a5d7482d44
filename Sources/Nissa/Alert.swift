public import Leyline

/// Where an alert is in its life: `pending` (breaching, fewer consecutive samples than the
/// rule asks), `firing` (notified), `resolved` (a later sample no longer breached; notified
/// too). A pending alert whose breach ends before it fires is discarded, not resolved.
public enum AlertState: String, Sendable, Codable, CaseIterable {
    case pending, firing, resolved
}

/// One alert: a rule breached by one source. Times are RFC 3339 UTC.
public struct AlertRecord: Sendable, Encodable, Equatable {
    public var id: String
    public var rule: String
    public var metric: String
    public var source: String
    public var severity: AlertSeverity
    public var state: AlertState
    /// The judged value of the latest sample (for `increase` rules: the increase).
    public var value: Double
    public var threshold: Double
    public var comparator: AlertComparator
    public var routes: [String]
    /// Consecutive breaching samples so far.
    public var consecutive: Int
    public var summary: String
    /// Raised by a drill (`POST /api/v1/nissa/drills/...`), kept apart from production state.
    public var drill: Bool
    public var startedAt: LeylineTimestamp
    public var firedAt: LeylineTimestamp?
    public var resolvedAt: LeylineTimestamp?
    public var updatedAt: LeylineTimestamp
    public var acknowledgedBy: String?
    public var acknowledgedAt: LeylineTimestamp?
    /// Position in the history (the list cursor); not part of the JSON.
    public var sequence: Int64 = 0

    enum CodingKeys: String, CodingKey {
        case id, rule, metric, source, severity, state, value, threshold, comparator, routes, consecutive, summary, drill
        case startedAt = "started_at", firedAt = "fired_at", resolvedAt = "resolved_at", updatedAt = "updated_at"
        case acknowledgedBy = "acknowledged_by", acknowledgedAt = "acknowledged_at"
    }

    // Absent times are written as null so every alert has the same keys.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(rule, forKey: .rule)
        try c.encode(metric, forKey: .metric)
        try c.encode(source, forKey: .source)
        try c.encode(severity, forKey: .severity)
        try c.encode(state, forKey: .state)
        try c.encode(value, forKey: .value)
        try c.encode(threshold, forKey: .threshold)
        try c.encode(comparator, forKey: .comparator)
        try c.encode(routes, forKey: .routes)
        try c.encode(consecutive, forKey: .consecutive)
        try c.encode(summary, forKey: .summary)
        try c.encode(drill, forKey: .drill)
        try c.encode(startedAt, forKey: .startedAt)
        try c.encode(firedAt, forKey: .firedAt)
        try c.encode(resolvedAt, forKey: .resolvedAt)
        try c.encode(updatedAt, forKey: .updatedAt)
        try c.encode(acknowledgedBy, forKey: .acknowledgedBy)
        try c.encode(acknowledgedAt, forKey: .acknowledgedAt)
    }

    init(id: String, rule: AlertRule, source: String, value: Double, drill: Bool, at time: LeylineTimestamp, sequence: Int64) {
        self.id = id
        self.rule = rule.name
        metric = rule.metric
        self.source = source
        severity = rule.severity
        state = .pending
        self.value = value
        threshold = rule.threshold
        comparator = rule.comparator
        routes = rule.routes
        consecutive = 0
        summary = rule.summary
        self.drill = drill
        startedAt = time
        updatedAt = time
        self.sequence = sequence
    }

    public var isActive: Bool { state != .resolved }
}

/// A change worth telling receivers about: an alert started firing or resolved.
public struct AlertTransition: Sendable {
    public let alert: AlertRecord
    public let rule: AlertRule
}
