public import Leyline

/// How one message is published.
public struct PublishOptions: Sendable {
    /// `MESSAGE_PRIORITY_CRITICAL` routes to the emergency stream (the contract has no
    /// EMERGENCY priority).
    public var priority: MessagePriority = .normal
    /// The reference's `emergency=true`: straight to the emergency stream.
    public var emergency = false
    /// An explicit stream (job streams); nil picks the stream by message type.
    public var stream: OonaStream?
    /// Envelope TTL; nil uses the configured `messageTTL`.
    public var ttl: Duration?
    public var correlationId = ""
    public var attributes: [String: String] = [:]
    /// Envelope `source_subsystem`; nil uses the configured one.
    public var source: String?

    public init(
        priority: MessagePriority = .normal, emergency: Bool = false, stream: OonaStream? = nil, ttl: Duration? = nil,
        correlationId: String = "", attributes: [String: String] = [:], source: String? = nil
    ) {
        self.priority = priority
        self.emergency = emergency
        self.stream = stream
        self.ttl = ttl
        self.correlationId = correlationId
        self.attributes = attributes
        self.source = source
    }
}

/// What happened to one publish.
public enum PublishOutcome: Sendable, Equatable {
    /// Written: Redis acknowledged the XADD (and, with the append-only file on, it survives a
    /// Redis restart).
    case published(stream: OonaStream, entryId: String, eventId: String, rerouted: Bool)
    /// Refused by a backpressure drop threshold; nothing was written.
    case dropped(stream: OonaStream, backlog: Int)
    /// Not written: conservative mode sampled this telemetry detail out (counted in
    /// `publish_shed`).
    case shed(stream: OonaStream)
    /// Not written: the message could not be encoded within the entry cap (only in batches;
    /// a single publish throws this error instead).
    case rejected(OonaError)

    /// The reference's boolean: true if written, false if dropped.
    public var wasPublished: Bool {
        if case .published = self { return true }
        return false
    }

    /// The stream written to or refused by (nil when rejected before routing).
    public var stream: OonaStream? {
        switch self {
        case .published(let stream, _, _, _), .dropped(let stream, _), .shed(let stream): stream
        case .rejected: nil
        }
    }
}
