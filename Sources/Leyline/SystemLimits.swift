/// Hard limits of the design (`00-contracts.md` §6).
public struct SystemLimits: Sendable, Equatable, Codable {
    public let maxSeedsPerEpoch: Int
    /// The proto-era budget (280 B); JSON messages are held to `maxJSONMessageBytes` instead.
    public let maxMessageSizeBytes: Int
    public let maxQueueDepth: Int
    public let maxRetryAttempts: Int
    public let maxPauseQuota: Int
    public let maxGcAllocationsPerMsg: Int
    public let maxPruningRatioPercent: Int
    public let maxConsecutivePruningFailures: Int
    public let maxCheckpointStorageGb: Int
    public let maxImportanceHistoryDays: Int
    /// Our JSON budget per fixture-class message (1 KiB).
    public let maxJSONMessageBytes: Int
    /// Hard cap of one HTTP body or one bus entry (256 KiB).
    public let maxEnvelopeBytes: Int

    public static let standard = SystemLimits(
        maxSeedsPerEpoch: 100, maxMessageSizeBytes: 280, maxQueueDepth: 10_000, maxRetryAttempts: 3, maxPauseQuota: 10_000,
        maxGcAllocationsPerMsg: 4, maxPruningRatioPercent: 50, maxConsecutivePruningFailures: 3,
        maxCheckpointStorageGb: 100, maxImportanceHistoryDays: 30, maxJSONMessageBytes: 1024, maxEnvelopeBytes: 256 * 1024)
}
