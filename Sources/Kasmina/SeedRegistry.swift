import EsperJSON
import Foundation
public import Leyline
import Synchronization

/// One seed as the REST API shows it (`GET /api/v1/runs/{id}/seeds/{seed_id}`).
public struct SeedView: Sendable, Codable, Equatable {
    public var seedId: String
    public var slot: String
    public var blueprintId: String
    /// The kernel actually grafted (differs from `blueprint_id` after a fallback).
    public var kernelId: String
    public var kernelSource: String
    public var kernelKind: String
    public var fetchLatencyMs: Double
    public var fallbackReason: String?
    /// Leyline stage name (`SEED_STAGE_TRAINING`) and number.
    public var stage: String
    public var stageNumber: Int
    public var alpha: Double
    public var parameters: Int
    public var germinatedEpoch: Int
    public var stageEnteredEpoch: Int
    public var ageEpochs: Int
    public var gradientNorm: Double
    public var shadowLoss: Double?
    public var drift: Double
    public var ablationValidationLoss: Double?
    public var baselineValidationLoss: Double
    public var baselineValidationAccuracy: Double
    public var isolationViolations: Int
    /// The most recent violations (at most 10).
    public var violations: [IsolationViolation]
    public var paused: Bool
    public var cullRequested: Bool
    public var cullReason: String?
    public var history: [SeedLifecycle.Transition]
}

/// A slot as the REST API shows it.
public struct SlotView: Sendable, Codable, Equatable {
    public var name: String
    public var width: Int
    public var embargoUntilEpoch: Int
    public var fossils: [String]
    public var liveSeed: String?
}

/// A run's seeds: every seed it ever grafted (finished ones keep their last state).
public struct RunSeedsView: Sendable, Codable, Equatable {
    public var runId: String
    /// The last epoch a boundary processed.
    public var epoch: Int
    public var active: Bool
    public var isolationViolations: Int
    public var seeds: [SeedView]
    public var slots: [SlotView]
}

/// Why a cull request was refused.
public enum CullRequestError: Error, Sendable, Equatable {
    case unknownRun
    case unknownSeed
    /// The run's training thread is gone (finished, failed, or not started here).
    case runNotActive
    case notCullable(stage: String)
    /// The run trains in another process and the cull could not be handed on (the job
    /// queue is away): try again.
    case relayFailed(String)
}

/// Where seed views outlive the process (the run registry's SQLite table in the server).
public protocol SeedViewStore: Sendable {
    func saveSeedView(runId: String, json: String) throws
    func seedView(runId: String) throws -> String?
}

/// The process-wide view of every run's seeds for the REST API, and the mailbox of operator
/// culls. Training threads publish a fresh view at each epoch boundary; HTTP threads only
/// read it or set a seed's cull flag — neither ever waits for training. With a store, a view
/// is written (on a background queue, never on the training thread) whenever a seed or slot
/// changed shape — a germination, a stage, a cull, a widening — and when the run ends; a view
/// not in memory (after a restart) is read back from the store, inactive.
public final class SeedRegistry: Sendable {
    struct Entry {
        var view: RunSeedsView
        var cullRequests: [String: CullRequest]
        /// What the stored copy reflects (seeds' stages and slots), to skip identical writes.
        var storedShape: String?
        /// The run trains in another process (an `esper worker`): its views arrive as records
        /// and culls are relayed to that worker.
        var remote = false
        /// For a remote run: the training attempt the view came from (`JobAttempt`).
        var attempt: JobAttempt?
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let store = Mutex<(any SeedViewStore)?>(nil)
    private let forwarder = Mutex<(@Sendable (RunSeedsView) -> Void)?>(nil)
    private let writer = DispatchQueue(label: "kasmina-seed-views")

    public init() {}

    /// Persists views from now on (the server attaches its run registry at start).
    public func attach(store: any SeedViewStore) { self.store.withLock { $0 = store } }

    /// Hands every published view to `forward` too (an `esper worker` sends them to the
    /// server as run records). Called on the training thread: it must not block for long.
    public func forward(to forward: @escaping @Sendable (RunSeedsView) -> Void) { forwarder.withLock { $0 = forward } }

    /// A view of a run trained in another process (a worker's record), applied in order: a
    /// view of an earlier attempt, or an older view of the same attempt, is ignored. Seeds the
    /// server already knows stay listed; a cull asked here and not yet seen by the worker stays
    /// flagged.
    public func receive(_ view: RunSeedsView, attempt: JobAttempt?) {
        let persisting = store.withLock { $0 != nil }
        let toStore: RunSeedsView? = entries.withLock { entries in
            let existing = entries[view.runId]
            if let existing, existing.remote, let known = existing.attempt {
                if let attempt, attempt < known { return nil }
                if attempt == nil || attempt == known {
                    let older = view.epoch < existing.view.epoch
                    let reopened = view.epoch == existing.view.epoch && view.active && !existing.view.active
                    if older || reopened { return nil }
                }
            }
            var merged = view
            if let previous = existing?.view ?? loadLocked(view.runId) {
                let current = Set(view.seeds.map(\.seedId))
                merged.seeds = previous.seeds.filter { !current.contains($0.seedId) } + view.seeds
                let asked = Set(previous.seeds.filter(\.cullRequested).map(\.seedId))
                for index in merged.seeds.indices where asked.contains(merged.seeds[index].seedId) {
                    merged.seeds[index].cullRequested = true
                }
            }
            let shape = SeedRegistry.shape(of: merged)
            entries[view.runId] = Entry(
                view: merged, cullRequests: [:], storedShape: persisting ? shape : nil, remote: true,
                attempt: attempt ?? existing?.attempt)
            return persisting && shape != existing?.storedShape ? merged : nil
        }
        if let toStore { save(toStore) }
    }

    /// Whether the run's seeds live in another process (culls are relayed there).
    public func isRemote(_ runId: String) -> Bool { entries.withLock { $0[runId]?.remote ?? false } }

    public func publish(_ view: RunSeedsView, cullRequests: [String: CullRequest]) {
        defer { forwardLatest(view.runId) }
        let persisting = store.withLock { $0 != nil }
        let toStore: RunSeedsView? = entries.withLock { entries in
            // Seeds of an earlier manager of the same run (before a restart) stay listed.
            var merged = view
            if let previous = entries[view.runId]?.view ?? loadLocked(view.runId) {
                let current = Set(view.seeds.map(\.seedId))
                merged.seeds = previous.seeds.filter { !current.contains($0.seedId) } + view.seeds
            }
            let shape = persisting ? SeedRegistry.shape(of: merged) : nil
            let stored = entries[view.runId]?.storedShape
            entries[view.runId] = Entry(view: merged, cullRequests: cullRequests, storedShape: shape)
            return persisting && shape != stored ? merged : nil
        }
        if let toStore { save(toStore) }
    }

    /// The training thread of the run ended: no more culls can be honoured.
    public func deactivate(_ runId: String) {
        let view: RunSeedsView? = entries.withLock { entries in
            entries[runId]?.view.active = false
            entries[runId]?.cullRequests = [:]
            return entries[runId]?.view
        }
        if let view {
            save(view)
            flush()  // the run is over: its final view is on disk before the thread moves on
            forwardLatest(runId)
        }
    }

    private func forwardLatest(_ runId: String) {
        guard let forward = forwarder.withLock({ $0 }), let view = entries.withLock({ $0[runId]?.view }) else { return }
        forward(view)
    }

    public func view(_ runId: String) -> RunSeedsView? {
        entries.withLock { entries in
            if let entry = entries[runId] { return entry.view }
            guard let loaded = loadLocked(runId) else { return nil }
            entries[runId] = Entry(view: loaded, cullRequests: [:], storedShape: SeedRegistry.shape(of: loaded))
            return loaded
        }
    }

    /// Waits until every queued write reached the store (tests, shutdown).
    public func flush() { writer.sync {} }

    private func save(_ view: RunSeedsView) {
        guard let store = store.withLock({ $0 }) else { return }
        writer.async {
            guard let bytes = try? JanssonEncoder().encode(view) else { return }
            try? store.saveSeedView(runId: view.runId, json: String(decoding: bytes, as: UTF8.self))
        }
    }

    /// A stored view (inactive: its training thread is not in this process).
    private func loadLocked(_ runId: String) -> RunSeedsView? {
        guard let store = store.withLock({ $0 }), let text = try? store.seedView(runId: runId),
            var view = try? JanssonDecoder().decode(RunSeedsView.self, from: Array(text.utf8))
        else { return nil }
        view.active = false
        return view
    }

    /// Finished seeds never change again: their count stands for them, the live ones are listed.
    private static func shape(of view: RunSeedsView) -> String {
        let ended = [SeedLifecycleStage.fossilized.name, SeedLifecycleStage.cancelled.name]
        let live = view.seeds.filter { !ended.contains($0.stage) }
        let seeds = ["\(view.seeds.count)"] + live.map { "\($0.seedId):\($0.stage):\($0.cullReason ?? ""):\($0.paused)" }
        let slots = view.slots.map { "\($0.name):\($0.width):\($0.fossils):\($0.liveSeed ?? ""):\($0.embargoUntilEpoch)" }
        return (seeds + ["|"] + slots + ["|\(view.active)"]).joined(separator: ",")
    }

    /// Flags a live seed for culling; the slot computes the host function again from its next
    /// training batch and the cull completes at the epoch boundary.
    /// For a run trained in another process (`receive`), `relay` hands the cull to the worker
    /// that holds it; its next view shows the cull under way.
    public func requestCull(
        runId: String, seedId: String, relay: (() throws -> Void)? = nil
    ) throws(CullRequestError) -> SeedView {
        let result: Result<SeedView, CullRequestError> = entries.withLock { entries in
            guard var entry = entries[runId] else { return .failure(.unknownRun) }
            guard let index = entry.view.seeds.firstIndex(where: { $0.seedId == seedId }) else { return .failure(.unknownSeed) }
            let seed = entry.view.seeds[index]
            guard entry.view.active else { return .failure(.runNotActive) }
            if entry.remote {
                let ended = [SeedLifecycleStage.cancelled, .culling, .fossilized].map { Int($0.rawValue) }
                guard !ended.contains(seed.stageNumber), seed.cullReason == nil, !seed.cullRequested else {
                    return .failure(.notCullable(stage: seed.stage))
                }
                guard let relay else { return .failure(.relayFailed("no way to reach the worker that holds the run")) }
                do { try relay() } catch { return .failure(.relayFailed("\(error)")) }
                entry.view.seeds[index].cullRequested = true
                entries[runId] = entry
                return .success(entry.view.seeds[index])
            }
            guard seed.stageNumber != Int(SeedLifecycleStage.cancelled.rawValue),
                seed.stageNumber != Int(SeedLifecycleStage.culling.rawValue),
                seed.cullReason == nil, let request = entry.cullRequests[seedId]
            else {
                return .failure(.notCullable(stage: seed.stage))
            }
            request.set()
            entry.view.seeds[index].cullRequested = true
            entries[runId] = entry
            return .success(entry.view.seeds[index])
        }
        return try result.get()
    }
}
