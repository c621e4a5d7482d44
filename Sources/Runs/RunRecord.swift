public import Tolaria

/// Durations of the latest epoch, and the run's elapsed wall time.
public struct RunTimings: Sendable, Codable, Equatable {
    public var epochMs: Double?
    public var validationMs: Double?
    /// Epoch-boundary latency (the 18 ms budget).
    public var boundaryMs: Double?
    public var controllerMs: Double?
    public var samplesPerSecond: Double?
    /// From first start to finish (or to now while it runs).
    public var elapsedMs: Double?
}

/// A run as the API reports it.
public struct RunRecord: Sendable, Codable, Equatable {
    public var id: String
    public var name: String?
    public var status: RunStatus
    public var config: RunConfig
    /// Epochs completed.
    public var epoch: Int
    public var epochs: Int
    public var globalStep: Int64
    public var latestMetrics: EpochSummary?
    public var timings: RunTimings
    public var rollbacks: Int
    /// Times the run was picked up again after the server stopped or crashed.
    public var restarts: Int
    /// Epoch of the checkpoint the last restart resumed from.
    public var resumedFromEpoch: Int?
    public var error: String?
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
}

/// `GET /api/v1/runs/{id}/metrics`: the per-epoch history and the run's events.
public struct RunMetrics: Sendable, Codable, Equatable {
    public var runId: String
    public var status: RunStatus
    public var epochs: [EpochSummary]
    public var events: [TrainingEvent]
}
