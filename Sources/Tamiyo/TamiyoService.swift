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
import Leyline
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

    public init(directory: String) { self.directory = directory }

    public var fieldReportPath: String { directory + "/field_reports.log" }
    public var policyWeightsPath: String { directory + "/policy_weights.bin" }
    public var approvalsPath: String { directory + "/approvals.json" }
}

/// The policy network as `GET /api/v1/tamiyo/policy` shows it.
public struct PolicyInfo: Sendable, Encodable {
    public var policies: [String]
    public var defaultPolicy: String
    public var network: String
    public var version: String
    public var parameters: Int
    public var weightsSha256: String
    public var config: PolicyNetworkConfig
    public var actions: [String]
    public var risk: RiskInfo
    public var quarantinedBlueprints: [QuarantinedBlueprint]
    public var metadataCache: CacheInfo

    public struct RiskInfo: Sendable, Encodable {
        public var maxLossSpike: Double
        public var highRiskThreshold: Double
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
    let karn: KarnCatalog
    let kernels: any SeedKernelProvider
    let bus: OonaClient?
    let logger: Logger
    let worker = BackgroundWorker(name: "tamiyo-worker")
    private let weights: Mutex<PolicyWeights>
    private let quarantined = Mutex<[String: String]>([:])
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
        mode = ConservativeMode(atStart: settings.conservativeAtStart)
        risk = RiskEngine(maxLossSpike: settings.maxLossSpike)
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
            logger.warning(
                "field-report log: records skipped at open (torn tail or bad checksum)",
                metadata: ["skipped": "\(fieldReports.skippedAtOpen)"])
        }
        var loaded = PolicyWeights.initial()
        do {
            if let bytes = try ChecksummedFile.read(settings.policyWeightsPath) { loaded = try PolicyWeights(decoding: bytes) }
        } catch {
            logger.error("policy weights refused; using the initial weights", metadata: ["error": "\(error)"])
        }
        weights = Mutex(loaded)
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

    /// Finishes queued writes and publishes.
    public func stop() { worker.stop() }

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
        case .learned: policy = LearnedPolicy(weights: currentWeights)
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
        let widensOnly = seeds.blueprints.map { !$0.isEmpty && $0.allSatisfy { WideningBlueprint.units($0) != nil } } ?? false
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

    public func quarantineReason(_ blueprintId: String) -> String? { quarantined.withLock { $0[blueprintId] } }

    public var currentWeights: PolicyWeights { weights.withLock { $0 } }

    /// Installs verified weights (Simic's, or a test's) for runs started from now on, and
    /// keeps them in `<data>/tamiyo/policy_weights.bin`.
    public func install(weights new: PolicyWeights) throws {
        try ChecksummedFile.write(new.encoded(), to: settings.policyWeightsPath)
        weights.withLock { $0 = new }
    }

    public var policyInfo: PolicyInfo {
        let w = currentWeights
        return PolicyInfo(
            policies: ControlPolicy.allCases.map(\.rawValue), defaultPolicy: ControlPolicy.none.rawValue, network: PolicyWeights.network,
            version: w.policyVersion, parameters: w.values.count, weightsSha256: w.sha256, config: w.config,
            actions: PolicyAction.allCases.map(\.name),
            risk: .init(maxLossSpike: risk.maxLossSpike, highRiskThreshold: risk.highRiskThreshold),
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

    /// Appends (fsync) then publishes; a report that cannot be stored turns conservative mode on.
    func record(_ report: FieldReport) {
        let bus = bus
        let accepted = worker.submit { [self] in
            do {
                try fieldReports.append(report)
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
