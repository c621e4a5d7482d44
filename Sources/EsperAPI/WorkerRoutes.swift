public import EsperHTTP
import Oona
public import Runs

import enum Leyline.RFC3339

/// `GET /api/v1/workers`: the live workers (in-process slots of `esper serve` and `esper
/// worker` processes) from their heartbeats — what each runs and when it was last heard
/// from. A worker silent for longer than the claim timeout is dead (its jobs are being taken
/// over) and is not listed; one silent for an hour is forgotten.
public enum WorkerRoutes {
    struct JobView: Encodable {
        var slot: Int
        var kind: String
        var runId: String?
        var entryId: String
        var since: String
    }

    struct WorkerView: Encodable {
        var id: String
        var host: String
        var pid: Int32
        var local: Bool
        var slots: Int
        var kinds: [String]
        var startedAt: String
        var lastSeen: String
        var lastSeenMsAgo: Int64
        var jobs: [JobView]
    }

    struct WorkersResponse: Encodable {
        var items: [WorkerView]
        /// Silent longer than this: dead, not listed.
        var livenessMs: Int64
    }

    public static func register(into routes: inout OperationHandlers, jobs: JobQueue) {
        routes.on("listWorkers") { _ in
            let idle = jobs.bus.configuration.claimMinIdle.components
            let liveness = max(2_000, idle.seconds * 1000 + idle.attoseconds / 1_000_000_000_000_000)
            let snapshot: (workers: [WorkerInfo], nowMs: Int64)
            do {
                snapshot = try jobs.workers()
                if snapshot.workers.contains(where: { snapshot.nowMs - $0.lastSeenMs > 3_600_000 }) {
                    try? jobs.pruneWorkers(olderThanMs: 3_600_000)
                }
            } catch {
                throw Problem.unavailable("the worker registry (Redis) cannot be read: \(error)")
            }
            func time(_ ms: Int64) -> String { RFC3339.format(unixNanoseconds: ms * 1_000_000) }
            let items = snapshot.workers.filter { snapshot.nowMs - $0.lastSeenMs <= liveness }.map { worker in
                WorkerView(
                    id: worker.id, host: worker.host, pid: worker.pid, local: worker.local, slots: worker.slots,
                    kinds: worker.kinds.map(\.rawValue), startedAt: time(worker.startedMs), lastSeen: time(worker.lastSeenMs),
                    lastSeenMsAgo: max(0, snapshot.nowMs - worker.lastSeenMs),
                    jobs: worker.jobs.map {
                        JobView(slot: $0.slot, kind: $0.kind.rawValue, runId: $0.runId, entryId: $0.entryId, since: time($0.sinceMs))
                    })
            }
            return try .json(WorkersResponse(items: items, livenessMs: liveness))
        }
    }
}
