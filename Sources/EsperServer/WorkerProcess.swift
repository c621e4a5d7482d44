import Foundation
import Karn
import Kasmina
public import Logging
public import Oona
import Tamiyo
import Tolaria
import Urza
public import Workers

/// `esper worker`: the job machinery of `esper serve` without the server — worker slots
/// taking training and policy (Simic) jobs from an external Redis, checkpoints in the shared
/// `ESPER_CHECKPOINT_DIR`, epochs and status published on Oona for the server to apply.
/// Runs with a control policy get Tamiyo's control loop in this process, with kernels from
/// a mirror of the server's Urza library (`UrzaMirror`, checksum-verified downloads) and
/// field reports in `<data>/tamiyo` of this machine.
public final class WorkerProcess: Sendable {
    public let bus: OonaClient
    public let runtime: WorkerRuntime
    let tamiyo: TamiyoService
    let logger: Logger

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(configuration: Configuration, logger: Logger) throws {
        guard let redis = configuration.redisURL else {
            throw StartError(description: "esper worker needs the server's Redis: set --redis-url or REDIS_URL")
        }
        guard let server = configuration.serverURL else {
            throw StartError(description: "esper worker needs the server it works for: set --server-url or ESPER_SERVER_URL")
        }
        guard let checkpoints = configuration.checkpointDirectory else {
            throw StartError(
                description:
                    "esper worker needs the checkpoint directory the server and other workers share: set --checkpoint-dir or ESPER_CHECKPOINT_DIR"
            )
        }
        do {
            var oona = configuration.oonaConfiguration()
            oona.conservativeAuto = false  // the server switches the bus' mode; workers follow it
            bus = try OonaClient(configuration: oona, endpoint: redis, logger: logger)
        } catch {
            throw StartError(description: error.description)
        }
        self.logger = logger
        let datasets = configuration.datasetsDirectory ?? configuration.dataDirectory + "/datasets"
        // The control loop runs here too, on a mirror of the server's kernel library.
        let handlers: JobHandlerRegistry
        do {
            let karn = try KarnCatalog()
            let urza = try UrzaLibrary(
                configuration: UrzaConfiguration(root: configuration.dataDirectory + "/urza-mirror"), catalog: karn)
            let mirror = UrzaMirror(serverURL: server, urza: urza, karn: karn, downloads: configuration.dataDirectory + "/urza-downloads")
            var control = TamiyoSettings(directory: configuration.dataDirectory + "/tamiyo")
            control.conservativeAtStart = configuration.control.conservativeAtStart
            control.fieldReportRetentionHours = configuration.control.fieldReportRetentionHours
            control.maxLossSpike = configuration.control.maxLossSpike
            control.kernelBudgetMs = configuration.control.kernelBudgetMs
            let tamiyo = try TamiyoService(
                settings: control, karn: karn, urza: urza, kernels: UrzaKernelProvider(urza: urza), bus: bus, logger: logger)
            self.tamiyo = tamiyo
            let handler = TrainingJobHandler(
                executor: RunExecutor(checkpointRoot: checkpoints, datasetsDirectory: datasets),
                sinks: [LoggingTrainingSink(logger: logger)], logger: logger,
                prepare: { config in
                    guard config.effectivePolicy != .none else { return }
                    try mirror.sync()
                },
                controllerFactory: { runId, config in tamiyo.makeController(runId: runId, config: config) })
            let policy = RemotePolicyJobHandler(
                server: ServerClient(serverURL: server), bus: bus, bufferCapacity: configuration.control.simicBufferCapacity,
                replayTTLHours: configuration.control.simicReplayTTLHours, logger: logger)
            handlers = JobHandlerRegistry([handler, policy])
        } catch {
            throw StartError(description: "cannot open the worker's kernel library: \(error)")
        }
        runtime = WorkerRuntime(
            queue: JobQueue(bus: bus), handlers: handlers,
            options: WorkerRuntime.Options(slots: configuration.maxConcurrentRuns, local: false), logger: logger)
        Kernels.blasThreads = configuration.blasThreads
    }

    public func start() {
        bus.start()
        runtime.start()
    }

    public func stop() {
        runtime.stop()
        tamiyo.stop()
        bus.stop()
    }
}
