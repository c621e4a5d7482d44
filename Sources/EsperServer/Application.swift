import EsperAPI
public import EsperEvents
public import EsperHTTP
import EsperJSON
import EsperStorage
import Foundation
import Kasmina
import Kernels
import Leyline
public import Logging
public import Nissa
public import Oona
public import Prometheus
public import Runs
public import Simic
public import Studies
import Synchronization
public import Tamiyo
import Tezzeret
import Tolaria

/// The running server: managed (or external) Redis, the health monitor, the training-run
/// service, the blueprint pipeline, and the HTTP server with every route. `esper serve` and the integration tests both drive this type.
public final class Application: Sendable {
    public static let version = "0.1.0"

    public let configuration: Configuration
    public let registry = PrometheusCollectorRegistry()
    public let redisEndpoint: RedisEndpoint
    public let managedRedis: ManagedRedis?
    /// The Oona bus client every service shares.
    public let bus: OonaClient
    let logger: Logger
    let healthMonitor: RedisHealthMonitor
    /// Training runs (Tolaria): the control plane (registry in `<data>/tolaria`, jobs on
    /// the bus); training happens on workers.
    public let runs: RunService
    /// The job queue on Oona (jobs, leases, run controls, the worker registry).
    public let jobs: JobQueue
    /// Applies what workers report to the run registry.
    let recordApplier: JobRecordApplier
    /// The in-process worker slots: training, policy and compile jobs, or compile jobs only
    /// (one slot) with `ESPER_LOCAL_WORKERS=off`.
    public let localWorkers: WorkerRuntime?
    /// Metrics, alerts, SLOs, drills and the Grafana datasource (Nissa).
    public let nissa: NissaService
    /// The blueprint pipeline (Karn, Tezzeret, Urza) in `<data>/urza` and `<data>/tezzeret`.
    public let blueprints: BlueprintServices
    /// The control loop: Tamiyo (controller of every run that asks for a policy) and the
    /// Kasmina seed managers it drives; field reports in `<data>/tamiyo`.
    public let tamiyo: TamiyoService
    /// The offline policy trainer: replay buffer, PPO jobs, published policies in `<data>/simic`.
    public let simic: SimicService
    /// Server-Sent Events of runs, seeds, commands and alerts, read from the bus.
    public let events: EventHub
    /// Write checks and SQLite integrity checks of the data directory (`/healthz`).
    let storageMonitor: StorageMonitor
    /// Studies: runs grouped with their controls over seeds (`<data>/studies`).
    public let studies: StudyService
    let server: HTTPServer

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Throws when the run registry or the blueprint library cannot be opened, or the bus
    /// configuration is inconsistent (`Configuration` refuses such values already).
    public init(configuration: Configuration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        Application.observeRepairs(registry: registry, logger: logger, dataDirectory: configuration.dataDirectory)
        if let external = configuration.redisURL {
            managedRedis = nil
            redisEndpoint = external
        } else {
            var options = ManagedRedis.Options(directory: configuration.dataDirectory + "/redis")
            options.executable = configuration.redisServerExecutable
            options.configFile = configuration.redisConfigFile
            let managed = ManagedRedis(options: options, logger: logger)
            managedRedis = managed
            redisEndpoint = managed.endpoint
        }
        healthMonitor = RedisHealthMonitor(endpoint: redisEndpoint)
        do {
            bus = try OonaClient(
                configuration: configuration.oonaConfiguration(), endpoint: redisEndpoint, registry: registry, logger: logger)
        } catch {
            throw StartError(description: error.description)
        }
        blueprints = try BlueprintServices(configuration: configuration)
        let control = configuration.tamiyoSettings()
        let tamiyo = try TamiyoService(
            settings: control, karn: blueprints.catalog, urza: blueprints.urza,
            kernels: blueprints.kernelProvider(), bus: bus, logger: logger)
        self.tamiyo = tamiyo
        var simicSettings = SimicSettings(directory: configuration.dataDirectory + "/simic")
        simicSettings.bufferCapacity = configuration.control.simicBufferCapacity
        simicSettings.replayTTLHours = configuration.control.simicReplayTTLHours
        let queue = JobQueue(bus: bus)
        jobs = queue
        // Policy-training jobs go on `jobs.policy`; the server's worker slots take them.
        let simic = try SimicService(
            settings: simicSettings, bus: bus, logger: logger, initialPolicy: { tamiyo.currentWeights },
            reportSource: { tamiyo.fieldReports.all },
            // Reports read from the normal stream join the durable log first, so the log a
            // remote policy job reads holds what the buffer holds.
            persistReport: { report in try tamiyo.fieldReports.append(report) },
            dispatch: { id in
                try queue.publish(kind: .policy, job: PolicyJobHandler<WorkerRuntime>.job(id: id), attributes: ["simic_job_id": id])
            })
        self.simic = simic
        let tolaria = configuration.dataDirectory + "/tolaria"
        let datasets = configuration.datasetsDirectory ?? configuration.dataDirectory + "/datasets"
        let busSink = BusTrainingSink(bus: bus, logger: logger)
        runs = try RunService(
            options: RunService.Options(directory: tolaria, datasetsDirectory: datasets),
            logger: logger, sinks: [LoggingTrainingSink(logger: logger), busSink], queue: queue,
            configValidator: { config, architecture in tamiyo.validate(config, architecture: architecture) })
        // Remote workers' policy-job records come on the same stream as run records.
        let compileTable = blueprints.tezzeret.jobs
        recordApplier = JobRecordApplier(bus: bus, runs: runs, logger: logger) { value in
            if value.objectValue?["compile_job"] != nil {
                do { compileTable.apply(try JanssonDecoder().decode(CompileJobRecord.self, from: value)) } catch {
                    logger.error("unreadable compile job record dropped", metadata: ["error": "\(error)"])
                }
                return true
            }
            guard value.objectValue?["policy_job"] != nil else { return false }
            let record: PolicyJobRecord
            do { record = try JanssonDecoder().decode(PolicyJobRecord.self, from: value) } catch {
                logger.error("unreadable policy job record dropped", metadata: ["error": "\(error)"])
                return true
            }
            try simic.apply(record)  // a busy database: the record stays pending and comes back
            return true
        }
        // The server's worker slots: training and policy jobs (unless `--no-local-workers`: then
        // `esper worker` processes take them) and compiles, which need the server's own stores
        // (job table, Urza, the forge's scheduler) and which `esper worker` does not register.
        let policy = PolicyJobHandler<WorkerRuntime>(simic: simic, logger: logger)
        let compile = CompileJobHandler<WorkerRuntime>(compiles: blueprints.tezzeret.jobs, logger: logger)
        let compileJobs = blueprints.tezzeret.jobs
        compileJobs.route { id in
            // The request travels with the job: an `esper worker` compiles without the table.
            try queue.publish(
                kind: .compile, job: CompileJobHandler<WorkerRuntime>.job(id: id, compileJobs.job(id)), attributes: ["compile_job_id": id])
        }
        if configuration.localWorkers {
            let handler = TrainingJobHandler(
                executor: RunExecutor(checkpointRoot: configuration.checkpointDirectory ?? tolaria + "/runs", datasetsDirectory: datasets),
                sinks: [LoggingTrainingSink(logger: logger)], logger: logger,
                controllerFactory: { runId, config in tamiyo.makeController(runId: runId, config: config) })
            localWorkers = WorkerRuntime(
                queue: jobs, handlers: JobHandlerRegistry([handler, policy, compile]),
                options: WorkerRuntime.Options(slots: configuration.maxConcurrentRuns, local: true), logger: logger)
        } else if configuration.localCompiles {
            localWorkers = WorkerRuntime(
                queue: jobs, handlers: JobHandlerRegistry([compile]), options: WorkerRuntime.Options(slots: 1, local: true),
                logger: logger)
        } else {
            localWorkers = nil  // compiles too go to `esper worker` processes
        }

        // Seed views outlive a restart in the run registry's database.
        tamiyo.seeds.attach(store: RunRegistrySeedViews(registry: runs.registry))
        // Runs on `esper worker` processes: their field reports join the server's log (once
        // per report id) and Simic's buffer, their seed views Kasmina's registry.
        runs.handleRecords(Application.remoteRunRecords(tamiyo: tamiyo, simic: simic, logger: logger))
        let runService = runs
        // Alerts, acks, deliveries and SLO samples outlive a restart in `<data>/nissa/nissa.db`.
        let nissaState = try NissaStateStore(directory: configuration.dataDirectory + "/nissa", registry: registry, logger: logger)
        nissa = NissaService(
            options: configuration.nissa, registry: registry, bus: bus, logger: logger,
            runs: {
                // Run ids for Grafana variables: a bounded read of the local registry.
                (try? runService.list(status: nil, limit: 500, cursor: nil).records.map(\.id)) ?? []
            }, stateStore: nissaState)

        events = EventHub(bus: bus, options: configuration.events, registry: registry, logger: logger)
        let checkpointRoot = configuration.checkpointDirectory ?? tolaria + "/runs"
        let seedRegistry = tamiyo.seeds
        studies = try StudyService(
            options: StudyService.Options(
                directory: configuration.dataDirectory + "/studies", maxRuns: configuration.studyMaxRuns,
                keptOutcomes: configuration.studyKeptOutcomes, keptCurveSamples: configuration.studyKeptCurveSamples),
            runs: runs, logger: logger, seedStages: { id in seedRegistry.view(id)?.seeds.map(\.stage) },
            checkpointDirectory: { id in checkpointRoot + "/" + id },
            seedGerminations: { id in
                seedRegistry.view(id)?.seeds.sorted { $0.germinatedEpoch < $1.germinatedEpoch }
                    .map { ScheduledGermination(epoch: $0.germinatedEpoch, slot: $0.slot, blueprint: $0.blueprintId) }
            })

        storageMonitor = StorageMonitor(
            dataDirectory: configuration.dataDirectory, storageInterval: configuration.storageCheckSeconds,
            integrityInterval: configuration.integrityCheckSeconds, registry: registry, logger: logger)
        // Handlers by operationId; openapi/esper.yaml (compiled in) places them (APIDocument).
        var router = OperationHandlers()
        HealthRoutes.register(
            into: &router,
            probes: Application.probes(configuration, healthMonitor, managedRedis, bus, blueprints, nissa, events)
                + Application.storageProbes(storageMonitor),
            registry: registry, version: VersionInfo(version: Application.version))
        OonaRoutes.register(into: &router, bus: bus)
        RunRoutes.register(into: &router, service: runs)
        WorkerRoutes.register(into: &router, jobs: jobs)
        EventRoutes.register(into: &router, hub: events, runs: runs)
        KarnRoutes.register(into: &router, karn: blueprints.karn)
        UrzaRoutes.register(into: &router, urza: blueprints.urza, catalog: blueprints.catalog)
        TezzeretRoutes.register(into: &router, tezzeret: blueprints.tezzeret)
        TamiyoRoutes.register(into: &router, tamiyo: tamiyo)
        SimicRoutes.register(into: &router, simic: simic)
        SeedRoutes.register(into: &router, seeds: tamiyo.seeds, runs: runs)
        NissaRoutes.register(into: &router, nissa: nissa)
        GrafanaRoutes.register(
            into: &router, datasource: GrafanaDatasource(nissa: nissa, providers: [StudyGrafanaTargets(service: studies)]))
        ConsoleRoutes.register(into: &router)
        StudyRoutes.register(into: &router, service: studies)
        let dataDirectory = configuration.dataDirectory
        StorageRoutes.register(
            into: &router, runs: runs, checkpointDirectory: { id in checkpointRoot + "/" + id },
            usage: { Application.storageUsage(dataDirectory: dataDirectory, checkpointRoot: checkpointRoot) })
        server = HTTPServer(
            configuration: configuration.http, router: try APIDocument.router(router), logger: logger,
            metrics: HTTPMetrics(registry: registry),
            authenticator: Authenticator(token: configuration.apiToken, protectReads: configuration.protectReads))
    }

    /// The routes the server answers (for the OpenAPI conformance test).
    public var routes: [Router.Route] { server.routes }

    /// The bound port (useful when configured with port 0).
    public var port: UInt16 { server.port }

    /// The started services (nil before `start` and after `stop`).
    private let started = Mutex<ServiceGroup?>(nil)

    /// Every long-running part, in start order; they stop in reverse (so the event streams
    /// end before the HTTP server waits for its requests, the worker slots stop before the
    /// services their jobs use, and Redis goes last).
    var services: [any LongRunningService] {
        let (configuration, logger, healthMonitor, runs, tamiyo, nissa, bus, server, blueprints) =
            (configuration, logger, healthMonitor, runs, tamiyo, nissa, bus, server, blueprints)
        let redisEndpoint = redisEndpoint
        var list: [any LongRunningService] = []
        if let managedRedis {
            list.append(
                ServiceAdapter(
                    name: managedRedis.name,
                    start: {
                        do { try managedRedis.start() } catch { throw StartError(description: "cannot start the managed Redis: \(error)") }
                    }, stop: managedRedis.stop, health: { managedRedis.health }))
        }
        list.append(storageMonitor)
        list.append(
            ServiceAdapter(
                name: healthMonitor.name,
                start: {
                    healthMonitor.start()
                    if !healthMonitor.status.reachable {
                        logger.warning(
                            "Redis is not reachable; serving in degraded mode",
                            metadata: ["redis": "\(redisEndpoint)", "error": "\(healthMonitor.status.error ?? "")"])
                    }
                }, stop: healthMonitor.stop, health: { healthMonitor.health }))
        // Creates the consumer groups now if Redis answers; otherwise keeps trying in the
        // background while the server runs degraded.
        list.append(bus)
        // The forge runs in the background (ESPER_FORGE_AT_START); its jobs wait on the
        // queue for the worker slots.
        list.append(ServiceAdapter(name: "blueprints", start: blueprints.start, stop: blueprints.stop))
        list.append(
            ServiceAdapter(
                name: nissa.name,
                start: {
                    nissa.start()
                    // Queue depth known from the start (Nissa's group exists now): the families on /metrics too.
                    if let depth = bus.reportQueueDepthNow() { nissa.ingestBeforeBus(.telemetry(depth)) }
                }, stop: nissa.stop, health: { nissa.health }))
        list.append(
            ServiceAdapter(
                name: tamiyo.name, start: tamiyo.start,
                stop: {
                    tamiyo.seeds.flush()
                    tamiyo.stop()
                }, health: { tamiyo.health }))
        list.append(simic)
        list.append(
            ServiceAdapter(
                name: "runs",
                start: {
                    do { try runs.start() } catch { throw StartError(description: "cannot start the training-run service: \(error)") }
                }, stop: { runs.shutdown() }))
        list.append(recordApplier)
        if let localWorkers { list.append(localWorkers) }
        list.append(
            ServiceAdapter(
                name: "http",
                start: {
                    try server.start()
                    logger.info(
                        "esper listening",
                        metadata: [
                            "url": "http://\(configuration.http.host):\(server.port)",
                            "data_dir": "\(configuration.dataDirectory)", "redis": "\(redisEndpoint)",
                        ])
                }, stop: { server.stop() }))
        // Both end their event streams when stopped, before the HTTP server waits for them.
        list.append(ServiceAdapter(name: "studies", start: studies.start, stop: { [studies] in studies.stop() }))
        list.append(events)
        return list
    }

    public func start() throws {
        // The memory shares must sum to at most 1 (00-contracts.md §6); refuse to boot otherwise.
        do {
            try MemoryBudgets.standard.checkSum()
        } catch {
            throw StartError(description: error.description)
        }
        logger.info(
            "nissa alert rules loaded",
            metadata: [
                "rules": "\(configuration.nissa.rules.rules.map(\.name).joined(separator: ","))",
                "file": "\(configuration.nissaRulesFile ?? "(built-in)")",
            ])
        Kernels.blasThreads = configuration.blasThreads
        let group = ServiceGroup(services, logger: logger)
        do {
            try group.start()
        } catch {
            throw error.underlying as? StartError ?? StartError(description: "\(error.underlying)")
        }
        started.withLock { $0 = group }
    }

    /// Graceful stop, in the reverse of the start order: no new connections, in-flight
    /// requests finish, local training runs stop at their next batch and their jobs go back
    /// on the queue (resumable from their last checkpoint by any worker), compiles in progress
    /// finish (the rest stays in the forge WAL), then Redis stops.
    public func stop() {
        started.withLock { group in
            defer { group = nil }; return group
        }?.stop()
        logger.info("esper stopped")
    }

    /// Where the field reports and seed views of remote runs go. An unreadable payload is
    /// dropped with an error in the log; a store that refuses (disk full) leaves the record
    /// pending, so it comes back.
    static func remoteRunRecords(tamiyo: TamiyoService, simic: SimicService, logger: Logger) -> RunService.RecordHandlers {
        RunService.RecordHandlers(
            fieldReport: { record, payload in
                let report: FieldReport
                do { report = try JanssonDecoder().decode(FieldReport.self, from: payload) } catch {
                    logger.error("unreadable field report record dropped", metadata: ["run": "\(record.runId)", "error": "\(error)"])
                    return
                }
                guard report.trainingRunId == record.runId else { return }
                if try tamiyo.fieldReports.append(report) { simic.buffer.add(report, now: Date().timeIntervalSince1970) }
            },
            seeds: { record, payload in
                let view: RunSeedsView
                do { view = try JanssonDecoder().decode(RunSeedsView.self, from: payload) } catch {
                    logger.error("unreadable seed view record dropped", metadata: ["run": "\(record.runId)", "error": "\(error)"])
                    return
                }
                guard view.runId == record.runId else { return }
                tamiyo.seeds.receive(view, attempt: record.attempt.flatMap(JobAttempt.init))
            })
    }

    static func probes(
        _ configuration: Configuration, _ monitor: RedisHealthMonitor, _ managed: ManagedRedis?,
        _ bus: OonaClient, _ blueprints: BlueprintServices, _ nissa: NissaService, _ events: EventHub
    ) -> [HealthProbe] {
        [
            HealthProbe(name: "nissa") {
                let health = nissa.health
                return HealthCheckResult(status: health.healthy ? .ok : .degraded, detail: health.detail)
            },
            HealthProbe(name: "events") {
                let health = events.health
                return HealthCheckResult(status: health.healthy ? .ok : .degraded, detail: health.detail)
            },
            HealthProbe(name: "bus") {
                let health = bus.health
                return HealthCheckResult(status: health.healthy ? .ok : .degraded, detail: "oona: \(health.detail)")
            },
            HealthProbe(name: "redis") {
                let status = monitor.status
                let mode = managed == nil ? "external \(monitor.endpoint)" : "managed \(monitor.endpoint)"
                if status.reachable {
                    return HealthCheckResult(status: .ok, detail: "\(mode): PING \(status.latencyMicroseconds) µs")
                }
                let restarting = managed.map { " (restarts so far: \($0.restartCount))" } ?? ""
                return HealthCheckResult(status: .degraded, detail: "\(mode) unreachable: \(status.error ?? "unknown")\(restarting)")
            },
            HealthProbe(name: "blueprints") { blueprints.health },
        ]
    }

    /// Every repair (a damaged artifact, checkpoint, log record or policy file) becomes an
    /// error log line naming the file and the reason, and `esper_repairs_total`.
    static func observeRepairs(registry: PrometheusCollectorRegistry, logger: Logger, dataDirectory: String) {
        Repairs.shared.observe(under: dataDirectory) { event in
            registry.makeCounter(
                descriptor: MetricNameDescriptor(
                    metricName: "esper_repairs_total", unitName: "",
                    helpText: "Damaged files or records found and dealt with (quarantined, skipped, recompiled), by component and action."),
                labels: [("component", event.component), ("action", event.action)]
            ).increment()
            logger.error(
                "repair: \(event.action)",
                metadata: [
                    "component": "\(event.component)", "file": "\(event.file)", "reason": "\(event.reason)",
                    "quarantine": "\(event.quarantine ?? "(not kept)")",
                ])
        }
    }

    /// `storage` (a real write and fsync) and `integrity` (SQLite quick_check), from memory.
    static func storageProbes(_ monitor: StorageMonitor) -> [HealthProbe] {
        [
            HealthProbe(name: "storage") { monitor.storage },
            HealthProbe(name: "integrity") { monitor.integrity },
        ]
    }
}
