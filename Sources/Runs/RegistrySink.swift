import Logging
import Tolaria

/// Writes every epoch summary and event of a run into the run registry, which is what the
/// API serves. A write failure is logged, never thrown: the run goes on.
struct RegistrySink: TrainingEventSink {
    let registry: RunRegistry
    let logger: Logger

    func epochCompleted(_ summary: EpochSummary) {
        do { try registry.recordEpoch(summary) } catch {
            logger.error("cannot record an epoch", metadata: ["run": "\(summary.runId)", "error": "\(error)"])
        }
    }

    func event(_ event: TrainingEvent) {
        do { try registry.recordEvent(event) } catch {
            logger.error("cannot record an event", metadata: ["run": "\(event.runId)", "error": "\(error)"])
        }
    }
}
