// Tamiyo: the strategic controller — at every epoch boundary of a run it reads the real epoch
// numbers and Kasmina's seed telemetry, decides through a policy (rule-based or the policy
// network Simic trains), passes the decision through the risk engine (loss spikes, blueprint
// quarantine, approvals, conservative mode), has Kasmina execute it, and writes durable field
// reports about what every seed did. This file is the process-wide service the runs share.
public import EsperJSON
import EsperStorage
import Foundation
public import Karn
public import Kasmina
public import KernelRuntime
public import Kernels
public import Leyline
public import Logging
public import Oona
import Synchronization
public import TamiyoNetwork
public import Tolaria
public import Urza

/// What `PUT /api/v1/tamiyo/mode` and the environment set, and the service's other knobs.
public struct TamiyoSettings: Sendable {
    /// `<data>/tamiyo`: field_reports.log, policy_weights.bin.
    public var directory: String
    public var fieldReportRetentionHours = 24.0
    public var conservativeAtStart = false
    public var maxLossSpike = 0.15
    /// Kasmina's kernel fetch budget (ms); a slower fetch falls back.
    public var kernelBudgetMs = 10.0
    /// Blueprint metadata cache TTL.
    public var metadataTTLSeconds = 300.0
    /// Whether slow decisions or slow epoch hooks switch conservative mode on by themselves
    /// (the design's latency triggers). Off only where a run must not depend on the machine's
    /// speed — determinism tests on a loaded machine.
    public var latencyTriggers = true
    /// Risk engine hysteresis (03 §9): boundaries the score must call for a higher level before
    /// it is entered (CRITICAL is entered at once), and boundaries below a level's floor
    /// before it is left by one step.
    public var riskEscalationWindows = 3
    public var riskRecoveryWindows = 3
    /// Pauses the risk engine may issue per run and epoch (Leyline `MAX_PAUSE_QUOTA`).
    public var pauseQuota = RiskAssessor.maxPauseQuota
    /// The memory the process may use, for the risk engine's memory dimension (nil: the
    /// cgroup's limit or the machine's memory).
    public var memoryLimitBytes: UInt64?

    public init(directory: String) { self.directory = directory }

    public var fieldReportPath: String { directory + "/field_reports.log" }
    public var policyWeightsPath: String { directory + "/policy_weights.bin" }
    public var approvalsPath: String { directory + "/approvals.json" }
    /// The last known good weights before the current ones (what a rollback restores, and
    /// what a restart falls back to when the current file is refused).
    public var previousPolicyWeightsPath: String { directory + "/policy_weights.previous.bin" }
}

/// The policy network as `GET /api/v1/tamiyo/policy` shows it.
public struct PolicyInfo: Sendable, Encodable {
    public var policies: [String]
    public var defaultPolicy: String
    public var network: String
    public var version: String
    public var parameters: Int
    public var weightsSha256: String
    /// Increases with every install or rollback; a learned run adopts a new generation at its
    /// next epoch boundary.
    public var generation: Int
    /// Versions a rollback can return to, newest first.
    public var rollbackVersions: [String]
    /// The last refused update or file, if any (why it was refused).
    public var lastRefusal: String?
    public var config: PolicyNetworkConfig
    public var actions: [String]
    public var risk: RiskInfo
    public var quarantinedBlueprints: [QuarantinedBlueprint]
    public var metadataCache: CacheInfo

    public struct RiskInfo: Sendable, Encodable {
        public var maxLossSpike: Double
        public var highRiskThreshold: Double
        public var highDriftThreshold: Double
        public var escalationWindows: Int
        public var recoveryWindows: Int
        public var pauseQuota: Int
        /// The worst level of any run now (GREEN without runs).
        public var level: String
        /// Each run's latest assessment (level, score, dimensions), by run id.
        public var runs: [RunRisk]
    }

    public struct RunRisk: Sendable, Encodable {
        public var runId: String
        public var assessment: RiskReport
    }

    public struct QuarantinedBlueprint: Sendable, Encodable {
        public var blueprintId: String
        public var reason: String
    }

    public struct CacheInfo: Sendable, Encodable {
        public var entries: Int
        public var ttlSeconds: Double
        public var ageSeconds: Double
        public var refreshes: Int
    }
}

/// Process-wide Tamiyo: the mode, the blueprint metadata cache, quarantines, the field-report
/// store, the policy weights, the background worker that writes and publishes, and the
/// registry of every run's seeds. Each run gets its own `TamiyoController` (+ Kasmina
/// `SeedManager`) built on its training thread by `makeController`.
public final class TamiyoService: Sendable {
    public let settings: TamiyoSettings
    public let mode: ConservativeMode
    public let catalog: BlueprintCatalog
    public let fieldReports: FieldReportStore
    public let seeds = SeedRegistry()
    /// Operators' approvals of approval-required blueprints (every run).
    public let approvals: ApprovalStore
    public let risk: RiskEngine
    /// The memory-utilisation signal of the risk engine (its limit can be changed live).
    public let memory: MemoryProbe
    let karn: KarnCatalog
    let kernels: any SeedKernelProvider
    let bus: OonaClient?
    let logger: Logger
    let worker = BackgroundWorker(name: "tamiyo-worker")
    private let weights: Mutex<WeightState>
    /// The policy stream in Tamiyo's own group (nil without a bus).
    private let policySubscription: OonaSubscription?

    /// The live weights, their generation and the last known good ones (newest last).
    struct WeightState {
        var current: PolicyWeights
        var generation = 0
        var previous: [PolicyWeights] = []
        var lastRefusal: String?
    }

    /// How many earlier policies a rollback can step back through (in memory; one on disk).
    static let rollbackDepth = 8
    private let quarantined = Mutex<[String: String]>([:])
    /// Each run's latest risk assessment (the last 64 runs).
    private let riskReports = Mutex<[(runId: String, report: RiskReport)]>([])
    private let publishFailures = Mutex(0)

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(
        settings: TamiyoSettings, karn: KarnCatalog, urza: UrzaLibrary?, kernels: any SeedKernelProvider, bus: OonaClient?,
        logger: Logger
    ) throws(OpenError) {
        self.settings = settings
        self.karn = karn
        self.kernels = kernels
        self.bus = bus
        self.logger = logger
        policySubscription = bus.map { bus in
            OonaSubscription(
                client: bus,
                options: .init(
                    streams: [.policy], group: TamiyoService.policyGroup, consumer: "tamiyo-" + bus.configuration.consumerName,
                    threadName: "esper-tamiyo-policy"))
        }
        mode = ConservativeMode(atStart: settings.conservativeAtStart)
        risk = RiskEngine(maxLossSpike: settings.maxLossSpike)
        memory = MemoryProbe(limitBytes: settings.memoryLimitBytes)
        catalog = BlueprintCatalog(karn: karn, urza: urza, ttlSeconds: settings.metadataTTLSeconds)
        let (approvals, approvalsError) = ApprovalStore.open(path: settings.approvalsPath, karn: karn)
        self.approvals = approvals
        if let approvalsError {
            logger.error("approvals file unreadable; starting with none", metadata: ["error": "\(approvalsError)"])
        }
        do {
            fieldReports = try FieldReportStore(path: settings.fieldReportPath, retentionHours: settings.fieldReportRetentionHours)
        } catch {
            throw OpenError(description: "cannot open the field-report log: \(error)")
        }
        if fieldReports.skippedAtOpen > 0 {
            RepairLog.fieldReports(fieldReports, logger: logger)
        }
        // The current file, else the last known good one, else the initial weights: a corrupt
        // or mismatched file is refused, never loaded "non-strictly".
        var state = WeightState(current: PolicyWeights.initial())
        var loadedCurrent = false
        do {
            if let bytes = try ChecksummedFile.read(settings.policyWeightsPath) {
                state.current = try PolicyWeights(decoding: bytes)
                loadedCurrent = true
            }
        } catch {
            state.lastRefusal = "\(settings.policyWeightsPath): \(error)"
            logger.error("policy weights refused; trying the last known good ones", metadata: ["error": "\(error)"])
        }
        if let bytes = try? ChecksummedFile.read(settings.previousPolicyWeightsPath),
            let previous = try? PolicyWeights(decoding: bytes)
        {
            if loadedCurrent { state.previous = [previous] } else { state.current = previous }
        }
        weights = Mutex(state)
        let bus = bus
        mode.observe { state in
            let packet = TelemetryPacket.build(
                packetId: "tamiyo-mode-\(UUID().uuidString.lowercased())", source: "tamiyo", level: state.conservative ? .warning : .info,
                metrics: [MetricPoint(name: "tamiyo.conservative_mode", value: state.conservative ? 1 : 0, unit: "bool")],
                events: [
                    TelemetryEvent(
                        description: "conservative_mode", level: state.conservative ? .warning : .info,
                        attributes: [
                            "conservative": String(state.conservative), "reason": state.reason,
                            "source": state.source.rawValue,
                        ])
                ],
                healthStatus: state.conservative ? .degraded : .healthy, healthSummary: state.conservative ? "conservative_mode" : "stable")
            _ = try? bus?.publishTelemetry(packet)
        }
    }

    /// Finishes queued writes and publishes; stops the policy-stream consumer.
    public func stop() {
        policySubscription?.stop()
        worker.stop()
    }

    // MARK: - Runs

    /// The controller of a run (RunService's factory; called on the run's training thread).
    public func makeController(runId: String, config: RunConfig) -> any EpochController {
        guard config.effectivePolicy != .none else { return NoOpEpochController() }
        // The metadata prefetch: on the run's thread before its first epoch, never inside one.
        catalog.refreshNow()
        let policy: any TamiyoPolicy
        switch config.effectivePolicy {
        case .none: return NoOpEpochController()
        case .heuristic: policy = HeuristicPolicy()
        case .scheduled: policy = ScheduledPolicy()
        case .learned:
            let state = weights.withLock { ($0.current, $0.generation) }
            policy = LearnedPolicy(weights: state.0, generation: state.1)
        }
        return makeController(runId: runId, config: config, policy: policy)
    }

    /// A controller with a given policy and (tests) branch factory.
    public func makeController(
        runId: String, config: RunConfig, policy: any TamiyoPolicy,
        makeBranch: ((CompiledKernel, ParameterBlock) throws -> any SeedBranch)? = nil
    ) -> TamiyoController {
        let kasmina = SeedManager(
            runId: runId, settings: config.effectiveSeeds, kernels: kernels, budgetMs: settings.kernelBudgetMs,
            registry: seeds, publish: { [weak self] packet in self?.publish(telemetry: packet) },
            makeBranch: makeBranch)
        return TamiyoController(runId: runId, config: config, service: self, policy: policy, kasmina: kasmina)
    }

    /// Checks a run config's seed settings against the catalog and the library: every named
    /// blueprint exists, and a slot's width matches the width kernels are compiled for.
    public func validate(_ config: RunConfig, architecture: HostArchitecture) -> [JSONFieldProblem] {
        guard config.effectivePolicy != .none else { return [] }
        let seeds = config.effectiveSeeds
        catalog.refreshNow()
        var problems: [JSONFieldProblem] = []
        for key in ["blueprints", "approved_blueprints"] {
            let ids = key == "blueprints" ? seeds.blueprints ?? [] : seeds.approvedBlueprints
            for (index, id) in ids.enumerated() where karn.get(id) == nil && WideningBlueprint.units(id) == nil {
                problems.append(JSONFieldProblem(field: "seeds.\(key)[\(index)]", message: "no blueprint \(id) in the catalog"))
            }
        }
        let widths = Set(catalog.all.filter(\.available).compactMap(\.seedWidth))
        // A run that only widens needs no slot kernels, hence no particular slot width.
        let widensOnly =
            seeds.blueprints.map {
                !$0.isEmpty
                    && $0.allSatisfy {
                        WideningBlueprint.units($0) != nil || ConvBranchBlueprint.named($0) != nil || DepthCatalog.named($0) != nil
                    }
            }
            ?? false
        let slotLayers = (seeds.slots ?? architecture.hiddenSizes.indices.map(SeedSlot.name(forLayer:))).compactMap {
            Int($0.dropFirst("slot-".count))
        }
        for (index, id) in (seeds.blueprints ?? []).enumerated() {
            if let why = ConvBranchSeedBlueprint.misfit(id, slots: slotLayers, architecture: architecture) {
                problems.append(JSONFieldProblem(field: "seeds.blueprints[\(index)]", message: why))
            }
        }
        if !widths.isEmpty && !widensOnly {
            let names = seeds.slots ?? architecture.hiddenSizes.indices.map(SeedSlot.name(forLayer:))
            for (index, name) in names.enumerated() {
                guard let layer = Int(name.dropFirst("slot-".count)), architecture.hiddenSizes.indices.contains(layer) else { continue }
                let width = architecture.hiddenSizes[layer]
                if !widths.contains(width) {
                    let field = seeds.slots == nil ? "model.hidden_sizes[\(layer)]" : "seeds.slots[\(index)]"
                    problems.append(
                        JSONFieldProblem(
                            field: field,
                            message:
                                "\(name) is \(width) wide; the blueprint library holds kernels for width \(widths.sorted().map(String.init).joined(separator: ", ")) (ESPER_SEED_WIDTH)"
                        ))
                }
            }
        }
        return problems
    }

    // MARK: - Quarantine, policy

    public func quarantine(_ blueprintId: String, reason: String) {
        let new = quarantined.withLock { map -> Bool in
            guard map[blueprintId] == nil else { return false }
            map[blueprintId] = reason
            return true
        }
        guard new else { return }
        logger.warning("blueprint quarantined", metadata: ["blueprint_id": "\(blueprintId)", "reason": "\(reason)"])
        publish(
            telemetry: TelemetryPacket.build(
                packetId: "tamiyo-quarantine-\(blueprintId)-\(UUID().uuidString.lowercased())", source: "tamiyo", level: .warning,
                metrics: [],
                events: [
                    TelemetryEvent(
                        description: "bp_quarantine", level: .warning,
                        attributes: ["blueprint_id": blueprintId, "reason": reason])
                ],
                healthStatus: .degraded, healthSummary: "bp_quarantine"))
    }

    /// Keeps a run's latest risk assessment for `GET /api/v1/tamiyo/policy`.
    func record(risk report: RiskReport, runId: String) {
        riskReports.withLock { list in
            list.removeAll { $0.runId == runId }
            list.append((runId, report))
            if list.count > 64 { list.removeFirst(list.count - 64) }
        }
    }

    public func riskReport(runId: String) -> RiskReport? { riskReports.withLock { $0.first { $0.runId == runId }?.report } }

    public func quarantineReason(_ blueprintId: String) -> String? { quarantined.withLock { $0[blueprintId] } }

    public var currentWeights: PolicyWeights { weights.withLock { $0.current } }
    public var weightsGeneration: Int { weights.withLock { $0.generation } }

    /// The weights when they are newer than `generation` (a learned run's boundary check).
    func weights(newerThan generation: Int) -> (PolicyWeights, Int)? {
        weights.withLock { $0.generation > generation ? ($0.current, $0.generation) : nil }
    }

    /// Installs verified weights (Simic's, or a test's): kept in
    /// `<data>/tamiyo/policy_weights.bin` (checksummed, atomic), the previous ones become the
    /// last known good (`policy_weights.previous.bin`); learned runs adopt them at their next
    /// epoch boundary, new runs at their first.
    public func install(weights new: PolicyWeights) throws {
        try weights.withLock { state in
            try ChecksummedFile.write(state.current.encoded(), to: settings.previousPolicyWeightsPath)
            try ChecksummedFile.write(new.encoded(), to: settings.policyWeightsPath)
            state.previous.append(state.current)
            if state.previous.count > TamiyoService.rollbackDepth { state.previous.removeFirst() }
            state.current = new
            state.generation += 1
        }
        logger.info("policy installed", metadata: ["version": "\(new.policyVersion)", "sha256": "\(new.sha256)"])
        publishPolicyEvent("policy_installed", level: .info, ["version": new.policyVersion])
    }

    public struct RollbackError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Back to the last known good weights; the ones rolled back from are dropped.
    @discardableResult
    public func rollback() throws -> PolicyWeights {
        let (from, to) = try weights.withLock { state throws -> (PolicyWeights, PolicyWeights) in
            guard let previous = state.previous.last else { throw RollbackError(description: "no earlier policy to roll back to") }
            try ChecksummedFile.write(previous.encoded(), to: settings.policyWeightsPath)
            let older = state.previous.count >= 2 ? state.previous[state.previous.count - 2] : nil
            if let older {
                try ChecksummedFile.write(older.encoded(), to: settings.previousPolicyWeightsPath)
            } else {
                AtomicFile.remove(settings.previousPolicyWeightsPath)
            }
            let from = state.current
            state.previous.removeLast()
            state.current = previous
            state.generation += 1
            return (from, previous)
        }
        logger.warning("policy rolled back", metadata: ["from": "\(from.policyVersion)", "to": "\(to.policyVersion)"])
        publishPolicyEvent("policy_rolled_back", level: .warning, ["from": from.policyVersion, "to": to.policyVersion])
        return to
    }

    /// A `PolicyUpdate` from Simic (the policy stream): the payload must decode as exactly
    /// this network (names, shapes, dimensions, checksum) or it is refused and the current
    /// weights stay. Returns the installed weights.
    @discardableResult
    public func ingest(_ update: PolicyUpdate) throws -> PolicyWeights {
        let new: PolicyWeights
        do {
            new = try PolicyWeights(decoding: update.payload.bytes, expecting: currentWeights.config)
        } catch {
            let reason = "policy update \(update.policyId) (\(update.tamiyoPolicyVersion)) refused: \(error)"
            weights.withLock { $0.lastRefusal = reason }
            logger.error("policy update refused", metadata: ["policy_id": "\(update.policyId)", "error": "\(error)"])
            publishPolicyEvent("policy_update_refused", level: .error, ["policy_id": update.policyId, "error": "\(error)"])
            throw error
        }
        if new.sha256 == currentWeights.sha256 && new.policyVersion == currentWeights.policyVersion { return new }
        try install(weights: new)
        return new
    }

    private func publishPolicyEvent(_ description: String, level: TelemetryLevel, _ attributes: [String: String]) {
        publish(
            telemetry: TelemetryPacket.build(
                packetId: "tamiyo-policy-\(UUID().uuidString.lowercased())", source: "tamiyo", level: level, metrics: [],
                events: [TelemetryEvent(description: description, level: level, attributes: attributes)],
                healthStatus: level == .info ? .healthy : .degraded, healthSummary: description))
    }

    /// Consumer group Tamiyo reads the policy stream with (its own: every update reaches it).
    public static let policyGroup = "tamiyo-policy"

    /// Starts the thread that takes `PolicyUpdate`s from the Oona policy stream (no-op
    /// without a bus). Refused updates are acknowledged (retrying cannot fix a bad payload).
    public func startPolicyConsumer() {
        policySubscription?.start { [self] delivery in
            guard case .policyUpdate(let update) = delivery.message else {
                throw OonaRejection(detail: "tamiyo takes only policy updates from the policy stream, not \(delivery.messageType.name)")
            }
            _ = try? ingest(update)
        }
    }

    /// One decision of the current network on a given input (the API's fixed-input check).
    public func decide(_ input: PolicyInput, validActions: UInt32) -> (action: PolicyAction, logits: [Float], param: Float, version: String)
    {
        let network = PolicyNetwork(weights: currentWeights)
        let out = network.evaluate(input)
        let action =
            maskedArgmax(out.actionLogits) { $0 < 32 && validActions & (1 << UInt32($0)) != 0 }.flatMap(PolicyAction.init(rawValue:))
            ?? .wait
        return (action, out.actionLogits, out.param, network.weights.policyVersion)
    }

    var riskInfo: PolicyInfo.RiskInfo {
        let runs = riskReports.withLock { $0 }.map { PolicyInfo.RunRisk(runId: $0.runId, assessment: $0.report) }
        return PolicyInfo.RiskInfo(
            maxLossSpike: risk.maxLossSpike, highRiskThreshold: risk.highRiskThreshold, highDriftThreshold: risk.highDriftThreshold,
            escalationWindows: settings.riskEscalationWindows, recoveryWindows: settings.riskRecoveryWindows,
            pauseQuota: settings.pauseQuota, level: (runs.map(\.assessment.level).max() ?? .green).name, runs: runs)
    }

    public var policyInfo: PolicyInfo {
        let state = weights.withLock { $0 }
        let w = state.current
        return PolicyInfo(
            policies: ControlPolicy.allCases.map(\.rawValue), defaultPolicy: ControlPolicy.none.rawValue, network: PolicyWeights.network,
            version: w.policyVersion, parameters: w.values.count, weightsSha256: w.sha256, generation: state.generation,
            rollbackVersions: state.previous.reversed().map(\.policyVersion), lastRefusal: state.lastRefusal, config: w.config,
            actions: PolicyAction.allCases.map(\.name),
            risk: riskInfo,
            quarantinedBlueprints: quarantined.withLock { $0 }.sorted { $0.key < $1.key }.map {
                .init(blueprintId: $0.key, reason: $0.value)
            },
            metadataCache: .init(
                entries: catalog.all.count, ttlSeconds: catalog.ttlSeconds,
                ageSeconds: max(0, Date().timeIntervalSince1970 - catalog.fetchedAt), refreshes: catalog.refreshes))
    }

    // MARK: - Background: disk and bus

    func publish(command: AdaptationCommand) {
        guard let bus else { return }
        worker.submit { [self] in noteOutcome { () throws(OonaError) in _ = try bus.publishCommand(command) } }
    }

    func publish(telemetry packet: TelemetryPacket) {
        guard let bus else { return }
        worker.submit { [self] in noteOutcome { () throws(OonaError) in _ = try bus.publishTelemetry(packet) } }
    }

    private let reportForwarder = Mutex<(@Sendable (FieldReport) -> Void)?>(nil)

    /// Hands every field report to `forward` as it is made, on the run's thread, before it is
    /// stored here (an `esper worker` sends them to the server as run records, so a report
    /// made before a crash is on its way before the next checkpoint).
    public func forwardReports(to forward: @escaping @Sendable (FieldReport) -> Void) { reportForwarder.withLock { $0 = forward } }

    /// Appends (fsync) then publishes; a report that cannot be stored turns conservative mode on.
    /// A report already in the log (a resumed run makes it again) is neither stored nor
    /// published twice.
    func record(_ report: FieldReport) {
        reportForwarder.withLock { $0 }?(report)
        let bus = bus
        let accepted = worker.submit { [self] in
            do {
                guard try fieldReports.append(report) else { return }
            } catch {
                logger.error("field report not stored", metadata: ["report_id": "\(report.reportId)", "error": "\(error)"])
                mode.trigger("field_report_persistence: \(error)")
                return
            }
            if let bus { noteOutcome { () throws(OonaError) in _ = try bus.publishFieldReport(report) } }
        }
        if !accepted { mode.trigger("field_report_queue_full") }
    }

    /// Five bus failures in a row switch conservative mode on (design trigger: Oona failure).
    private func noteOutcome(_ body: () throws(OonaError) -> Void) {
        do {
            try body()
            publishFailures.withLock { $0 = 0 }
        } catch {
            let failures = publishFailures.withLock { count -> Int in
                count += 1
                return count
            }
            logger.debug("tamiyo: publish failed", metadata: ["error": "\(error)"])
            if failures == 5 { mode.trigger("oona publish failures") }
        }
    }

    /// Blocks until queued writes and publishes are done (tests, shutdown).
    @discardableResult
    public func flush(timeoutSeconds: Double = 10) -> Bool { worker.waitUntilIdle(timeoutSeconds: timeoutSeconds) }
}

extension TamiyoService: LongRunningService {
    public var name: String { "tamiyo" }

    /// The policy-stream consumer (the background writer runs from `init`).
    public func start() { startPolicyConsumer() }

    public var health: ServiceHealth {
        policySubscription?.health ?? ServiceHealth(healthy: true, detail: "no bus: policy updates come only through the API")
    }
}
