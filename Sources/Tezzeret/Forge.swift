import EsperJSON
import EsperStorage
import Foundation
public import Karn
import Synchronization
public import Urza

import enum Leyline.RFC3339

/// One blueprint the forge gave up on.
public struct ForgeFailure: Sendable, Encodable, Equatable {
    public var blueprintId: String
    public var reason: String
    public var errorClass: String
    public var code: String
    /// Failed forge rounds (transient errors are retried in up to `Forge.maxRounds` rounds).
    public var rounds: Int
}

/// What one forge run did.
public struct ForgeRunSummary: Sendable, Encodable, Equatable {
    public var trigger: String
    public var startedAt: String
    public var finishedAt: String
    public var durationMs: Double
    /// Pending ids came from a WAL left by an interrupted run.
    public var resumed: Bool
    public var compiled: [String]
    /// Already valid in Urza.
    public var skipped: Int
    /// No longer in the catalog.
    public var dropped: [String]
    public var failed: [ForgeFailure]
    /// Blueprints queued again because their artifact was missing or damaged, with why (the
    /// damaged file is in Urza's quarantine).
    public var recompiled: [ForgeRepair] = []
}

/// A blueprint the forge compiles again because its artifact was found missing or damaged.
public struct ForgeRepair: Sendable, Encodable, Equatable {
    public var blueprintId: String
    public var reason: String
}

/// What `GET /api/v1/tezzeret/forge` reports.
public struct ForgeStatus: Sendable, Encodable {
    /// `idle`, `queued` (a run is requested) or `running`.
    public var state: String
    /// Blueprints still to compile, in order (the forge WAL).
    public var pending: [String]
    /// Blueprints compiling right now.
    public var running: [String]
    public var failed: [ForgeFailure]
    public var lastRun: ForgeRunSummary?
    public var runs: Int
    public var workers: Int
    public var maxRetries: Int
    public var strategy: String
    public var seedWidth: Int
}

/// The forge (06 §1.3, §10): compiles every catalog blueprint Urza has no valid artifact for,
/// in registration order, with midpoint parameters, on the shared compile workers. Its WAL
/// lists what is still pending, so a run killed at any point resumes where it stopped and ends
/// with every blueprint stored once: ids already valid in Urza are skipped, a recompile writes
/// the same content-addressed file, and Urza replays its own interrupted save.
///
/// Beyond the reference: one failure does not abort the run. A transient failure is retried in
/// later rounds of the same run; after `maxRounds` failed rounds (or at once, for a permanent
/// error) the blueprint moves to `failed` with its reason.
public final class Forge: Sendable {
    public static let maxRounds = 3

    public let catalog: KarnCatalog
    public let urza: UrzaLibrary
    public let compiler: TezzeretCompiler
    /// `<data>/urza/forge_wal.json`.
    public let walPath: String
    let scheduler: CompileScheduler
    let telemetry: any BlueprintTelemetry

    private struct State {
        var wal = ForgeWAL()
        var failed: [ForgeFailure] = []
        var lastRun: ForgeRunSummary?
        var runs = 0
        var running = false
        var cancelled = false
    }

    private let state: Mutex<State>
    /// One run at a time.
    private let runLock = NSLock()

    init(
        catalog: KarnCatalog, urza: UrzaLibrary, compiler: TezzeretCompiler, walPath: String,
        scheduler: CompileScheduler, telemetry: any BlueprintTelemetry
    ) {
        self.catalog = catalog
        self.urza = urza
        self.compiler = compiler
        self.walPath = walPath
        self.scheduler = scheduler
        self.telemetry = telemetry
        var initial = State()
        if case .wal(let wal) = ForgeWAL.load(walPath) { initial.wal = wal }
        if let bytes = try? AtomicFile.read(Forge.lastRunPath(compiler)),
            let last = try? JanssonDecoder().decode(PersistedRun.self, from: bytes)
        {
            initial.lastRun = last.summary
            initial.failed = last.summary.failed
        }
        state = Mutex(initial)
    }

    public var status: ForgeStatus {
        let running = scheduler.runningIds
        return state.withLock { s in
            ForgeStatus(
                state: s.running ? "running" : "idle", pending: s.wal.pending, running: running, failed: s.failed,
                lastRun: s.lastRun, runs: s.runs, workers: scheduler.workers, maxRetries: compiler.options.maxRetries,
                strategy: compiler.options.strategy.rawValue, seedWidth: compiler.options.seedWidth)
        }
    }

    public var isRunning: Bool { state.withLock { $0.running } }

    /// Stops the current run after the compiles already in progress; what is left stays in the
    /// WAL for the next run. Used at shutdown.
    public func cancel() { state.withLock { $0.cancelled = true } }

    /// One complete run (blocking; the compiles run on the scheduler's workers).
    @discardableResult
    public func run(trigger: String = "manual") -> ForgeRunSummary {
        runLock.lock()
        defer { runLock.unlock() }
        let started = RFC3339.nowUnixNanoseconds()
        let clock = Autotuner.monotonic()
        var summary = ForgeRunSummary(
            trigger: trigger, startedAt: RFC3339.format(unixNanoseconds: started), finishedAt: "",
            durationMs: 0, resumed: false, compiled: [], skipped: 0, dropped: [], failed: [])
        state.withLock { $0.running = true }
        defer { state.withLock { $0.running = false } }

        var wal = recover(&summary)
        if !summary.resumed {
            // Discovery: every catalog blueprint without a valid artifact, in registration
            // order, after any compile recovered from a compiler WAL. Host-shaped templates
            // (the widening family) have no shape before a host exists: Kasmina builds them.
            let all = catalog.all().filter { !$0.isHostShaped }.map(\.id)
            let unqueued = all.filter { !wal.pending.contains($0) }
            let missing = unqueued.filter { !urza.hasValidArtifact($0) }
            summary.skipped += unqueued.count - missing.count
            for id in missing {
                if let reason = urza.invalidReason(id) {
                    summary.recompiled.append(ForgeRepair(blueprintId: id, reason: reason))
                } else if let record = urza.get(id), record.state != .available {
                    summary.recompiled.append(
                        ForgeRepair(blueprintId: id, reason: "artifact \(record.state.rawValue) since an earlier run"))
                }
            }
            wal.pending += missing
            PausePoint.reach("forge.before_wal", blueprintId: wal.pending.first ?? "")
        }
        persist(wal)
        PausePoint.reach("forge.after_wal", blueprintId: wal.pending.first ?? "")
        telemetry.metric("tezzeret", "tezzeret.forge.pending", Double(wal.pending.count))

        let group = DispatchGroup()
        let outcomes = RunTally(summary)
        for id in wal.pending {
            group.enter()
            submit(id, group: group, outcomes: outcomes)
        }
        group.wait()
        summary = outcomes.value.withLock { $0 }

        let finished = RFC3339.nowUnixNanoseconds()
        summary.finishedAt = RFC3339.format(unixNanoseconds: finished)
        summary.durationMs = (Autotuner.monotonic() - clock) * 1000
        let final = summary
        state.withLock { s in
            s.lastRun = final
            s.failed = final.failed
            s.runs += 1
        }
        try? AtomicFile.write(try JanssonEncoder().encode(PersistedRun(summary: final)), to: Forge.lastRunPath(compiler))
        telemetry.metric("tezzeret", "tezzeret.forge.pending", Double(state.withLock { $0.wal.pending.count }))
        telemetry.event(
            "tezzeret", "forge_finished", final.failed.isEmpty ? .info : .warning,
            [
                "compiled": "\(final.compiled.count)", "skipped": "\(final.skipped)", "failed": "\(final.failed.count)",
                "recompiled": final.recompiled.map { "\($0.blueprintId) (\($0.reason))" }.joined(separator: "; "),
                "duration_ms": "\(Int(final.durationMs))",
            ])
        return final
    }

    /// Start-up order (06 §10): the WAL (unreadable → renamed `.corrupt`, full rediscovery),
    /// then compiler WALs of interrupted compiles at the front, then stray staged files.
    private func recover(_ summary: inout ForgeRunSummary) -> ForgeWAL {
        var wal = ForgeWAL()
        switch ForgeWAL.load(walPath) {
        case .absent: break
        case .corrupt:
            _ = rename(walPath, walPath + ".corrupt")
            telemetry.event("tezzeret", "wal_corrupt", .warning, ["path": walPath])
        case .wal(let loaded):
            wal = loaded
            if !wal.pending.isEmpty {
                summary.resumed = true
                telemetry.event("tezzeret", "forge_resumed", .info, ["pending": "\(wal.pending.count)"])
            }
        }
        var recovered = 0
        let busySlots = scheduler.busySlots  // a running request job's WAL is live, not a leftover
        let slots = (0..<max(scheduler.workers, 2)).filter { !busySlots.contains($0) }
        var consumed: [(path: String, record: CompilerWALRecord)] = []
        for slot in slots {
            let path = compiler.walPath(slot: slot)
            guard let record = try? CompilerWALRecord.read(path) else {
                if AtomicFile.exists(path) { _ = rename(path, path + ".corrupt") }
                continue
            }
            if !wal.pending.contains(record.blueprintId) {
                wal.pending.insert(record.blueprintId, at: 0)
                recovered += 1
            }
            if record.origin == CompileRequest.Origin.request.rawValue {
                wal.parameters[record.blueprintId] = record.parameters
            }
            consumed.append((path, record))
        }
        if recovered > 0 { telemetry.metric("tezzeret", "tezzeret.wal.recovered_jobs", Double(recovered)) }
        // Persist before deleting the compiler WALs, so no interrupted compile is ever lost.
        persist(wal)
        // Only the records read above: a compile that started since has a new record.
        for (path, record) in consumed where (try? CompilerWALRecord.read(path)) == record { AtomicFile.remove(path) }
        // Staged artifacts are leftovers of an interrupted compile or save (Urza keeps its own
        // copy, and anything not stored is recompiled). Files of a compile running right now
        // (a request job on another worker) are not leftovers.
        let busy = Set(scheduler.runningIds)
        for file in (try? FileManager.default.contentsOfDirectory(atPath: compiler.artifactDirectory)) ?? []
        where !busy.contains(String(file.prefix { $0 != "." })) {
            try? FileManager.default.removeItem(atPath: compiler.artifactDirectory + "/" + file)
        }
        return wal
    }

    private func submit(_ id: String, group: DispatchGroup, outcomes: RunTally) {
        scheduler.submit(id) { [self] slot in
            if state.withLock({ $0.cancelled }) {
                group.leave()  // stays pending in the WAL
                return
            }
            let parameters = state.withLock { $0.wal.parameters[id] }
            let outcome = process(id, slot: slot, parameters: parameters)
            var requeue = false
            state.withLock { s in
                switch outcome {
                case .retry(let failure):
                    let rounds = s.wal.attempts[id, default: 0] + 1
                    s.wal.attempts[id] = rounds
                    if rounds < Forge.maxRounds {
                        s.wal.pending.removeAll { $0 == id }
                        s.wal.pending.append(id)  // retried after the others
                        requeue = true
                    } else {
                        s.wal.pending.removeAll { $0 == id }
                        s.wal.attempts[id] = nil
                        s.wal.parameters[id] = nil
                        outcomes.value.withLock {
                            $0.failed.append(
                                ForgeFailure(
                                    blueprintId: id, reason: failure.description,
                                    errorClass: failure.errorClass.rawValue,
                                    code: failure.code, rounds: rounds))
                        }
                    }
                default:
                    s.wal.pending.removeAll { $0 == id }
                    s.wal.attempts[id] = nil
                    s.wal.parameters[id] = nil
                }
                try? s.wal.persist(walPath)
            }
            outcomes.value.withLock { summary in
                switch outcome {
                case .compiled: summary.compiled.append(id)
                case .skipped: summary.skipped += 1
                case .dropped: summary.dropped.append(id)
                case .failed(let failure):
                    summary.failed.append(
                        ForgeFailure(
                            blueprintId: id, reason: failure.description,
                            errorClass: failure.errorClass.rawValue, code: failure.code, rounds: 1))
                case .retry: break
                }
            }
            if requeue { submit(id, group: group, outcomes: outcomes) } else { group.leave() }
        }
    }

    enum Outcome {
        case compiled
        case skipped
        case dropped
        case failed(CompileError)
        case retry(CompileError)
    }

    private func process(_ id: String, slot: Int, parameters: [String: Double]?) -> Outcome {
        guard let template = catalog.template(id) else { return .dropped }
        if urza.hasValidArtifact(id) { return .skipped }
        let request = CompileRequest(
            blueprintId: id, parameters: parameters ?? template.forgeParameters,
            origin: parameters == nil ? .forge : .request, jobId: "forge-\(id)")
        do {
            let result = try compiler.compile(request, slot: slot)
            PausePoint.reach("forge.after_artifact", blueprintId: id)
            do {
                try urza.save(descriptor: template.descriptor, artifactPath: result.artifactPath)
            } catch {
                return .retry(CompileError(id, .io("Urza save: \(error)")))
            }
            PausePoint.reach("forge.after_save", blueprintId: id)
            AtomicFile.remove(result.artifactPath)
            return .compiled
        } catch {
            return error.errorClass == .permanent ? .failed(error) : .retry(error)
        }
    }

    private func persist(_ wal: ForgeWAL) {
        state.withLock { s in
            s.wal = wal
            try? wal.persist(walPath)
        }
    }

    /// The run's summary, filled in by the worker threads.
    final class RunTally: Sendable {
        let value: Mutex<ForgeRunSummary>
        init(_ summary: ForgeRunSummary) { value = Mutex(summary) }
    }

    static func lastRunPath(_ compiler: TezzeretCompiler) -> String { compiler.directory + "/forge_last_run.json" }

    struct PersistedRun: Codable {
        var summary: ForgeRunSummary
    }
}

extension ForgeRunSummary: Decodable {
    // `recompiled` is newer than some saved summaries: absent reads as none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        trigger = try c.decode(String.self, forKey: .trigger)
        startedAt = try c.decode(String.self, forKey: .startedAt)
        finishedAt = try c.decode(String.self, forKey: .finishedAt)
        durationMs = try c.decode(Double.self, forKey: .durationMs)
        resumed = try c.decode(Bool.self, forKey: .resumed)
        compiled = try c.decode([String].self, forKey: .compiled)
        skipped = try c.decode(Int.self, forKey: .skipped)
        dropped = try c.decode([String].self, forKey: .dropped)
        failed = try c.decode([ForgeFailure].self, forKey: .failed)
        recompiled = try c.decodeIfPresent([ForgeRepair].self, forKey: .recompiled) ?? []
    }
}
extension ForgeRepair: Decodable {}
extension ForgeFailure: Decodable {}
