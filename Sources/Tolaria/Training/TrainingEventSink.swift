public import Logging
import Synchronization

/// Where a run's results go: the run registry, a log, and (after the Leyline/Oona merge) the
/// bus as `SystemStatePacket` + telemetry. Called on the training thread after the epoch
/// boundary is timed; implementations must be quick and must not throw — a failing sink
/// never stops training.
public protocol TrainingEventSink: Sendable {
    func epochCompleted(_ summary: EpochSummary)
    func event(_ event: TrainingEvent)
    /// A run's status changed (queued, running, paused, succeeded, failed, cancelled).
    func runStatusChanged(_ runId: String, status: RunStatus, epoch: Int, error: String?)
}

extension TrainingEventSink {
    /// Most sinks record epochs and events only (the registry stores the status itself).
    public func runStatusChanged(_ runId: String, status: RunStatus, epoch: Int, error: String?) {}
}

/// Keeps everything in memory (tests, the profiling command).
public final class InMemoryTrainingSink: TrainingEventSink {
    private let state = Mutex<([EpochSummary], [TrainingEvent])>(([], []))

    public init() {}

    public func epochCompleted(_ summary: EpochSummary) { state.withLock { $0.0.append(summary) } }
    public func event(_ event: TrainingEvent) { state.withLock { $0.1.append(event) } }

    public var summaries: [EpochSummary] { state.withLock { $0.0 } }
    public var events: [TrainingEvent] { state.withLock { $0.1 } }
}

/// One log line per epoch and per event.
public struct LoggingTrainingSink: TrainingEventSink {
    let logger: Logger

    public init(logger: Logger) { self.logger = logger }

    public func epochCompleted(_ s: EpochSummary) {
        logger.info(
            "epoch finished",
            metadata: [
                "run": "\(s.runId)", "epoch": "\(s.epoch + 1)/\(s.epochs)", "step": "\(s.globalStep)",
                "train_loss": "\(s.trainLoss)", "val_loss": "\(s.validationLoss)", "val_acc": "\(s.validationAccuracy)",
                "epoch_ms": "\(s.epochMs)", "boundary_ms": "\(s.boundaryMs)",
            ])
    }

    public func event(_ e: TrainingEvent) {
        let level: Logger.Level =
            switch e.level {
            case .info: .info
            case .warning: .warning
            case .error: .error
            }
        var metadata: Logger.Metadata = ["run": "\(e.runId)", "epoch": "\(e.epoch)", "event": "\(e.kind.rawValue)"]
        for (key, value) in e.attributes { metadata[key] = "\(value)" }
        logger.log(level: level, "\(e.message)", metadata: metadata)
    }
}

/// Sends everything to several sinks in order.
public struct FanOutTrainingSink: TrainingEventSink {
    public let sinks: [any TrainingEventSink]

    public init(_ sinks: [any TrainingEventSink]) { self.sinks = sinks }

    public func epochCompleted(_ summary: EpochSummary) { for sink in sinks { sink.epochCompleted(summary) } }
    public func event(_ event: TrainingEvent) { for sink in sinks { sink.event(event) } }
    public func runStatusChanged(_ runId: String, status: RunStatus, epoch: Int, error: String?) {
        for sink in sinks { sink.runStatusChanged(runId, status: status, epoch: epoch, error: error) }
    }
}
