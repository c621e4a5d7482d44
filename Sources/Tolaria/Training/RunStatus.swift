/// Where a run is in its life: `queued → running → (paused) → succeeded | failed | cancelled`.
/// The engine's sinks hear of every change (`TrainingEventSink.runStatusChanged`); the run
/// service (module Runs) decides them.
public enum RunStatus: String, Sendable, Codable, CaseIterable {
    case queued, running, paused, succeeded, failed, cancelled

    public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
}
