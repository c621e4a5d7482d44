// Runs: background work (training runs, compile and policy jobs) as jobs on Oona's job
// streams, taken by worker slots through one consumer group — in `esper serve` and in
// `esper worker` processes alike.
public import EsperJSON
import Foundation
public import Leyline
public import Oona

/// The job queue's Redis side: enqueueing, per-run leases (one live job per run), run
/// controls and the worker registry. Every key is under the bus' `{bus}` hash tag, so the
/// scripts below touch a stream and a lease in one cluster slot.
public final class JobQueue: Sendable {
    /// The consumer group every worker slot reads job streams with.
    public static let group = "workers"
    /// Jobs wait as long as it takes: a week, not the bus' message TTL.
    public static let jobTTL: Duration = .seconds(7 * 24 * 3600)

    public let bus: OonaClient
    let controlKey: String
    let workersKey: String

    public init(bus: OonaClient) {
        self.bus = bus
        controlKey = bus.keys.auxiliaryKey("runs.control")
        workersKey = bus.keys.auxiliaryKey("workers")
    }

    func leaseKey(_ runId: String) -> String { bus.keys.auxiliaryKey("lease." + runId) }

    /// The seeds an operator asked to cull in a run, until the worker holding it took them.
    func cullKey(_ runId: String) -> String { bus.keys.auxiliaryKey("culls." + runId) }

    /// The workers' group on every job stream, from the start of each stream (jobs enqueued
    /// before any worker existed are delivered). Idempotent.
    public func ensureGroup() throws(OonaError) {
        try bus.ensureConsumerGroup(JobQueue.group, streams: OonaStream.jobs, from: "0")
    }

    /// Publishes one job: an `UNSPECIFIED` message whose payload is `{"kind", "job"}`;
    /// `after`: commands Redis runs with it, and `announcing`: messages published before it,
    /// in one transaction (`OonaClient.publish(_:options:after:announcing:)`).
    @discardableResult
    public func publish(
        kind: JobKind, job: JSONValue, attributes: [String: String] = [:], after commands: [[String]] = [],
        announcing announcements: [(BusMessage, PublishOptions)] = []
    ) throws -> String {
        var attributes = attributes
        attributes["job_kind"] = kind.rawValue
        let message = BusMessage.unspecified(.object(["kind": .string(kind.rawValue), "job": job]))
        let options = PublishOptions(stream: kind.stream, ttl: JobQueue.jobTTL, attributes: attributes, source: "workers")
        if !commands.isEmpty || !announcements.isEmpty {
            return try bus.publish(message, options: options, after: commands, announcing: announcements)
        }
        let outcome = try bus.publish(message, options: options)
        guard case .published(_, let entryId, _, _) = outcome else { throw JobQueueError("job not enqueued: \(outcome)") }
        return entryId
    }

    // MARK: run jobs and controls (the run service's side)

    /// Sets the run's control to `run` and enqueues a training job (`config`: the job's config
    /// as `JanssonEncoder().encodeValue` gives it, when the caller has it already), both in
    /// one transaction: a Redis lost between the two can no longer leave a control saying
    /// `run` with no job (the reconcile loop enqueues again only a run whose control is
    /// missing). `announcing`: messages published in the same transaction before the job (a
    /// new run's `queued` status). Where a failed enqueue's outcome is unknown (the
    /// connection went during EXEC) the control is taken back if Redis still answers: a job
    /// without a control is skipped by the worker that takes it, and the run is enqueued again.
    public func enqueue(_ job: RunJob, config: JSONValue? = nil, announcing announcements: [BusMessage] = []) throws {
        do {
            let payload = try config.map(job.encodedValue(config:)) ?? JanssonEncoder().encodeValue(job)
            try publish(
                kind: .training, job: payload, attributes: ["run_id": job.runId],
                after: [["HSET", controlKey, job.runId, RunControlState.run.rawValue]],
                announcing: announcements.map { ($0, PublishOptions()) })
        } catch {
            try? check(try bus.execute([["HDEL", controlKey, job.runId]]))
            throw error
        }
    }

    public func setControl(runId: String, _ state: RunControlState) throws {
        try check(try bus.execute([["HSET", controlKey, runId, state.rawValue]]))
    }

    /// The run is over: its control goes (a leftover job for it is then skipped).
    public func clearControl(runId: String) throws {
        try check(try bus.execute([["HDEL", controlKey, runId], ["DEL", cullKey(runId)]]))
    }

    /// Leaves the cull for the worker holding the run (its heartbeat reads it within 250 ms);
    /// kept a day at most should no worker ever take the run again.
    public func requestCull(runId: String, seedId: String) throws {
        try check(try bus.execute([["SADD", cullKey(runId), seedId], ["EXPIRE", cullKey(runId), "86400"]]))
    }

    /// The controls of these runs (absent: none recorded — Redis lost it, or the run's
    /// enqueue failed).
    public func controls(runIds: [String]) throws -> [String: RunControlState] {
        guard !runIds.isEmpty else { return [:] }
        var result: [String: RunControlState] = [:]
        // Bounded round trips: 500 fields per HMGET.
        var start = 0
        while start < runIds.count {
            let chunk = Array(runIds[start..<min(start + 500, runIds.count)])
            let reply = try bus.execute([["HMGET", controlKey] + chunk])[0]
            try check([reply])
            for (id, value) in zip(chunk, reply.array ?? []) {
                if let text = value.text, let state = RunControlState(rawValue: text) { result[id] = state }
            }
            start += chunk.count
        }
        return result
    }

    private func check(_ replies: [RedisReply]) throws {
        for reply in replies {
            if case .error(let message) = reply { throw JobQueueError(message) }
        }
    }

    // MARK: leases (worker side)

    /// Outcome of taking or keeping a job.
    public enum Hold: String, Sendable {
        /// This consumer holds the entry and the run's lease.
        case held = "ok"
        /// Another consumer owns the entry now (reclaimed after we went quiet).
        case lost
        /// Another live entry holds the run's lease: this one is a duplicate.
        case busy
    }

    /// Checks this consumer still owns `entryId` in the group, takes (or refreshes) the
    /// run's lease for it and resets the entry's idle time — atomically, so an entry is
    /// reclaimed by others only once its holder stopped refreshing for the claim timeout, by
    /// which time its lease has lapsed too.
    static let holdScript = """
        local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1)
        if #p == 0 or p[1][2] ~= ARGV[2] then return 'lost' end
        local v = redis.call('GET', KEYS[2])
        if v and v ~= ARGV[3] then return 'busy' end
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
        redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
        return 'ok'
        """

    /// Drops the lease if `entryId` still holds it.
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """

    func holdCommand(stream: OonaStream, runId: String, entryId: String, consumer: String, leaseMs: Int64) -> [String] {
        [
            "EVAL", JobQueue.holdScript, "2", bus.keys.key(stream), leaseKey(runId), JobQueue.group, consumer, entryId,
            "\(max(leaseMs, 100))",
        ]
    }

    public func hold(stream: OonaStream, runId: String, entryId: String, consumer: String, leaseMs: Int64) throws -> Hold {
        let reply = try bus.execute([holdCommand(stream: stream, runId: runId, entryId: entryId, consumer: consumer, leaseMs: leaseMs)])[0]
        try check([reply])
        return Hold(rawValue: reply.text ?? "") ?? .lost
    }

    public func release(runId: String, entryId: String) throws {
        try check(try bus.execute([["EVAL", JobQueue.releaseScript, "1", leaseKey(runId), entryId]]))
    }

    /// Acknowledges an entry outside the consumer (a job handed back to the queue).
    public func acknowledge(stream: OonaStream, entryId: String) throws {
        try check(try bus.execute([["XACK", bus.keys.key(stream), JobQueue.group, entryId]]))
    }

    // MARK: worker registry

    /// Records a worker's heartbeat (its description as JSON, `last_seen_ms` included).
    func recordWorker(_ info: WorkerInfo) throws {
        let text = String(decoding: try JanssonEncoder().encode(info), as: UTF8.self)
        try check(try bus.execute([["HSET", workersKey, info.id, text]]))
    }

    func removeWorker(_ id: String) throws { try check(try bus.execute([["HDEL", workersKey, id]])) }

    /// Every worker that ever sent a heartbeat and was not removed, with the server's clock
    /// (milliseconds) to judge them by.
    public func workers() throws -> (workers: [WorkerInfo], nowMs: Int64) {
        let replies = try bus.execute([["HGETALL", workersKey], ["TIME"]])
        try check(replies)
        var workers: [WorkerInfo] = []
        let items = replies[0].array ?? []
        var index = 0
        while index + 1 < items.count {
            if case .string(let bytes) = items[index + 1], let info = try? JanssonDecoder().decode(WorkerInfo.self, from: bytes) {
                workers.append(info)
            }
            index += 2
        }
        let time = replies[1].array ?? []
        let seconds = time.first?.text.flatMap { Int64($0) } ?? 0
        let micros = time.count > 1 ? time[1].text.flatMap { Int64($0) } ?? 0 : 0
        return (workers.sorted { $0.id < $1.id }, seconds * 1000 + micros / 1000)
    }

    /// Forgets workers silent for longer than `olderThanMs` (they died without saying so).
    public func pruneWorkers(olderThanMs: Int64) throws {
        let (workers, now) = try self.workers()
        for worker in workers where now - worker.lastSeenMs > olderThanMs { try removeWorker(worker.id) }
    }

    /// Redis' clock in milliseconds (heartbeats are stamped with it, so machines with skewed
    /// clocks still agree on who is alive).
    func serverMilliseconds() throws -> Int64 {
        let reply = try bus.execute([["TIME"]])[0]
        let parts = reply.array ?? []
        guard parts.count == 2, let seconds = parts[0].text.flatMap({ Int64($0) }), let micros = parts[1].text.flatMap({ Int64($0) })
        else { throw JobQueueError("unexpected TIME reply") }
        return seconds * 1000 + micros / 1000
    }
}

public struct JobQueueError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A worker as `GET /api/v1/workers` shows it (its heartbeat record).
public struct WorkerInfo: Sendable, Codable, Equatable {
    public struct Job: Sendable, Codable, Equatable {
        public var slot: Int
        public var kind: JobKind
        public var runId: String?
        public var entryId: String
        public var sinceMs: Int64
    }

    /// `<host>-<pid>` (its slots consume as `<id>-s<n>`).
    public var id: String
    public var host: String
    public var pid: Int32
    /// In-process workers of `esper serve` (true) or an `esper worker` process.
    public var local: Bool
    public var slots: Int
    public var kinds: [JobKind]
    public var startedMs: Int64
    public var lastSeenMs: Int64
    public var jobs: [Job]
}
