public import Leyline

/// One message handed to a consumer's handler. Handlers must be idempotent: delivery is
/// at-least-once (a handler that throws, or a consumer that dies before acknowledging, gets
/// the entry again, up to `maxAttempts` deliveries).
public struct OonaDelivery: Sendable {
    public let stream: OonaStream
    /// The Redis stream entry id.
    public let entryId: String
    public let envelope: BusEnvelope
    /// 1 on first delivery; more when the entry is retried or reclaimed.
    public let deliveryCount: Int

    public var message: BusMessage { envelope.message }
    public var messageType: BusMessageType { envelope.messageType }
}

/// What one `poll` did.
public struct OonaPollSummary: Sendable, Equatable {
    /// Handed to the handler.
    public var delivered = 0
    /// Handler succeeded and the entry was acknowledged.
    public var acknowledged = 0
    /// Handler threw; the entry stays pending for a retry.
    public var failed = 0
    /// Moved to a dead-letter stream (and acknowledged).
    public var deadLettered = 0
    /// Claimed from idle consumers.
    public var reclaimed = 0

    public init() {}
}
