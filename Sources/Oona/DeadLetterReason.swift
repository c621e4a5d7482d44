/// Why an entry went to a dead-letter stream (`<stream>.dlq`, field `reason`). An entry that
/// cannot be delivered is always acknowledged and moved there — never left pending forever
/// and never handed to a handler.
public enum DeadLetterReason: String, Sendable, CaseIterable {
    /// Signing is on and the entry has no `signature` field.
    case signatureMissing = "signature_missing"
    /// The signature does not match the payload under any known key.
    case signatureInvalid = "signature_invalid"
    /// The entry names a key id this process does not have.
    case signatureUnknownKey = "signature_unknown_key"
    /// No `payload` field.
    case missingPayload = "missing_payload"
    /// Larger than the 256 KiB bus entry cap.
    case tooLarge = "too_large"
    /// The payload is not JSON.
    case malformedJSON = "malformed_json"
    /// JSON of the wrong shape for its `message_type`, or values the contract forbids.
    case invalid
    /// A Leyline version other than 1.
    case unsupportedVersion = "unsupported_version"
    /// `BUS_MESSAGE_TYPE_UNSPECIFIED` outside a job stream.
    case unsupportedMessageType = "unsupported_message_type"
    /// Older than its TTL (`created_at + ttl`) when it reached a consumer.
    case expired
    /// Delivered more than `maxAttempts` times without being acknowledged.
    case maxAttemptsExceeded = "max_attempts_exceeded"
    /// A valid message of a type this consumer does not take from this stream (its handler
    /// threw `OonaRejection`).
    case unexpectedMessageType = "unexpected_message_type"
}

/// Thrown by a consumer's handler for a message it will never accept (wrong type for this
/// consumer, say): the entry is dead-lettered with `reason` and acknowledged instead of being
/// left pending for retries that cannot succeed.
public struct OonaRejection: Error, Sendable {
    public let reason: DeadLetterReason
    public let detail: String
    public init(_ reason: DeadLetterReason = .unexpectedMessageType, detail: String) {
        self.reason = reason
        self.detail = detail
    }
}
