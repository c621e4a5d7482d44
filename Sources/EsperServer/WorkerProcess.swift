import EsperClient
import EsperJSON
import Foundation
import Karn
import Kasmina
import Kernels
public import Logging
public import Oona
public import Runs
import Simic
import Synchronization
import Tamiyo
import Tezzeret
import Tolaria
import Urza

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
    let policySync: PolicySync
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
        let handlers: JobHandlerRegistry<WorkerRuntime>
        do {
            let karn = try KarnCatalog()
            let urza = try UrzaLibrary(
                configuration: UrzaConfiguration(root: configuration.dataDirectory + "/urza-mirror"), catalog: karn)
            let mirror = UrzaMirror(serverURL: server, urza: urza, karn: karn, downloads: configuration.dataDirectory + "/urza-downloads")
            // Compiles with the server's compile settings (width, strategy, retries).
            var options = CompileOptions()
            options.seedWidth = configuration.blueprints.seedWidth
            options.maxRetries = configuration.blueprints.maxRetries
            options.strategy = CompileStrategy(rawValue: configuration.blueprints.compileStrategy) ?? .standard
            let compiler = try TezzeretCompiler(catalog: karn, directory: configuration.dataDirectory + "/tezzeret", options: options)
            // Host-shaped artifacts come from the server through the mirror; a shape the server
            // has not compiled yet is compiled (and gated) here, stored in the worker's library,
            // and uploaded to the server's (best effort: the seed has it here either way).
            let uploader = ServerClient(serverURL: server, token: configuration.apiToken)
            let kernels = UrzaKernelProvider(urza: urza) { [logger] templateId, shape in
                let record = try compiler.compileHostShaped(templateId, shape: shape, into: urza)
                do {
                    let file = try urza.artifactFile(record.blueprintId, allowQuarantine: false)
                    let answer = try uploader.put(
                        "/api/v1/urza/artifacts/\(record.blueprintId)", body: file.bytes,
                        headers: ["Content-Type": "application/octet-stream", "X-Esper-SHA256": record.artifactSHA256])
                    if answer.status != 200 && answer.status != 201 {
                        logger.warning("host-shaped artifact \(record.blueprintId) refused by the server: HTTP \(answer.status)")
                    }
                } catch {
                    logger.warning("host-shaped artifact \(record.blueprintId) not uploaded: \(error)")
                }
            }
            let control = configuration.tamiyoSettings()
            let tamiyo = try TamiyoService(settings: control, karn: karn, urza: urza, kernels: kernels, bus: bus, logger: logger)
            self.tamiyo = tamiyo
            let handler = TrainingJobHandler(
                executor: RunExecutor(checkpointRoot: checkpoints, datasetsDirectory: datasets),
                sinks: [LoggingTrainingSink(logger: logger)], logger: logger,
                prepare: { config in
                    guard config.effectivePolicy != .none else { return }
                    try mirror.sync()
                },
                controllerFactory: { runId, config in tamiyo.makeController(runId: runId, config: config) })
            policySync = PolicySync(server: ServerClient(serverURL: server, token: configuration.apiToken), tamiyo: tamiyo, logger: logger)
            let policy = RemotePolicyJobHandler<WorkerRuntime>(
                server: ServerClient(serverURL: server, token: configuration.apiToken), bus: bus,
                bufferCapacity: configuration.control.simicBufferCapacity,
                replayTTLHours: configuration.control.simicReplayTTLHours, logger: logger)
            // The same compiler; compile jobs' artifacts go up into the server's Urza.
            let compile = RemoteCompileJobHandler<WorkerRuntime>(
                compiler: compiler, server: ServerClient(serverURL: server, token: configuration.apiToken), bus: bus, logger: logger)
            handlers = JobHandlerRegistry([handler, policy, compile])
        } catch {
            throw StartError(description: "cannot open the worker's kernel library: \(error)")
        }
        let runtime = WorkerRuntime(
            queue: JobQueue(bus: bus), handlers: handlers,
            options: WorkerRuntime.Options(slots: configuration.maxConcurrentRuns, local: false), logger: logger)
        self.runtime = runtime
        WorkerProcess.connect(tamiyo: tamiyo, to: runtime, logger: logger)
        Kernels.blasThreads = configuration.blasThreads
    }

    /// The server owns what the runs here produce: field reports and seed views go to it as
    /// run records (in order with the epochs, kept in the outbox while Redis is away), and
    /// operators' culls come back through the heartbeat.
    static func connect(tamiyo: TamiyoService, to runtime: WorkerRuntime, logger: Logger) {
        tamiyo.forwardReports { report in
            guard let payload = try? JanssonEncoder().encodeValue(report) else { return }
            runtime.records.publish(
                RunJobRecord(
                    kind: .fieldReport, runId: report.trainingRunId, worker: runtime.id,
                    attempt: runtime.attempt(runId: report.trainingRunId),
                    payload: payload))
        }
        tamiyo.seeds.forward { view in
            guard let payload = try? JanssonEncoder().encodeValue(view) else { return }
            runtime.records.publish(
                RunJobRecord(
                    kind: .seeds, runId: view.runId, worker: runtime.id, epoch: view.epoch, attempt: runtime.attempt(runId: view.runId),
                    payload: payload))
        }
        runtime.relayCulls { runId, seedId in
            do throws(CullRequestError) {
                _ = try tamiyo.seeds.requestCull(runId: runId, seedId: seedId)
                return true
            } catch {
                switch error {
                case .unknownRun, .runNotActive, .relayFailed:
                    return false  // its seeds are not here yet (a run just taken): next beat
                case .unknownSeed, .notCullable:
                    logger.warning("operator cull refused", metadata: ["run": "\(runId)", "seed": "\(seedId)", "reason": "\(error)"])
                    return true
                }
            }
        }
    }

    /// The bus, this machine's Tamiyo (its writer; it reads no policy stream: `policySync`
    /// keeps its weights), the slots and the policy sync; they stop in reverse.
    private var services: ServiceGroup {
        let tamiyo = tamiyo
        return ServiceGroup(
            [bus, ServiceAdapter(name: tamiyo.name, start: {}, stop: tamiyo.stop), runtime, policySync], logger: logger)
    }

    private let started = Mutex<ServiceGroup?>(nil)

    public func start() {
        let group = services
        try? group.start()  // none of these throws
        started.withLock { $0 = group }
    }

    public func stop() {
        started.withLock { group in
            defer { group = nil }; return group
        }?.stop()
    }
}
