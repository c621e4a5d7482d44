import Foundation
public import Logging
public import Oona
import Tolaria
public import Workers

/// `esper worker`: the job machinery of `esper serve` without the server — worker slots
/// taking training jobs from an external Redis, checkpoints in the shared
/// `ESPER_CHECKPOINT_DIR`, epochs and status published on Oona for the server to apply.
/// Runs with a control policy need Tamiyo's control loop (its seed registry lives in the
/// server): this process fails them with a reason rather than training them without it.
public final class WorkerProcess: Sendable {
    public let bus: OonaClient
    public let runtime: WorkerRuntime
    let logger: Logger

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(configuration: Configuration, logger: Logger) throws {
        guard let redis = configuration.redisURL else {
            throw StartError(description: "esper worker needs the server's Redis: set --redis-url or REDIS_URL")
        }
        guard configuration.serverURL != nil else {
            throw StartError(description: "esper worker needs the server it works for: set --server-url or ESPER_SERVER_URL")
        }
        guard let checkpoints = configuration.checkpointDirectory else {
            throw StartError(
                description:
                    "esper worker needs the checkpoint directory the server and other workers share: set --checkpoint-dir or ESPER_CHECKPOINT_DIR"
            )
        }
        do {
            bus = try OonaClient(configuration: configuration.oonaConfiguration(), endpoint: redis, logger: logger)
        } catch {
            throw StartError(description: error.description)
        }
        self.logger = logger
        let datasets = configuration.datasetsDirectory ?? configuration.dataDirectory + "/datasets"
        let handler = TrainingJobHandler(
            executor: RunExecutor(checkpointRoot: checkpoints, datasetsDirectory: datasets),
            sinks: [LoggingTrainingSink(logger: logger)], logger: logger,
            controlLoop: false)
        runtime = WorkerRuntime(
            queue: JobQueue(bus: bus), handlers: JobHandlerRegistry([handler]),
            options: WorkerRuntime.Options(slots: configuration.maxConcurrentRuns, local: false), logger: logger)
        Kernels.blasThreads = configuration.blasThreads
    }

    public func start() {
        bus.start()
        runtime.start()
    }

    public func stop() {
        runtime.stop()
        bus.stop()
    }
}
