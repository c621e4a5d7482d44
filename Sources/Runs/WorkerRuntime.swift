import EsperJSON
import Foundation
import Leyline
public import Logging
public import Oona
import Synchronization

/// One worker process' job machinery — the same in `esper serve` (in-process slots) and
/// `esper worker`:
///
/// - `slots` threads, each a consumer of the `workers` group on the job streams of the
///   registered kinds, holding one job at a time (`COUNT 1`, one entry claimed per
///   `XAUTOCLAIM`);
/// - a heartbeat thread that, every `heartbeatInterval`, keeps each held job (its lease and
///   its entry's idle time: `JobQueue.holdScript`), relays run controls (pause/stop) to the
///   trainers, flushes the record outbox and records the worker in the registry `GET
///   /api/v1/workers` reads. A worker whose heartbeats stop (killed, cut off) loses its jobs
///   to others after the claim timeout; if it comes back it notices (`lost`) and lets go.
public final class WorkerRuntime: LongRunningService, JobWorker {
    public struct Options: Sendable {
        public var slots: Int
        /// In-process workers of `esper serve`.
        public var local: Bool
        public var heartbeatInterval: Duration
        /// How long a slot's read blocks when nothing waits.
        public var block: Duration

        public init(slots: Int, local: Bool, heartbeatInterval: Duration = .milliseconds(250), block: Duration = .seconds(1)) {
            self.slots = max(1, slots)
            self.local = local
            self.heartbeatInterval = heartbeatInterval
            self.block = block
        }
    }

    /// `<host>-<pid>`.
    public let id: String
    public let options: Options
    public let queue: JobQueue
    public let records: RecordPublisher
    let handlers: JobHandlerRegistry<WorkerRuntime>
    let logger: Logger
    let host: String
    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)
    private let heartbeat = BackgroundThread(name: "worker-heartbeat")
    /// One subscription per slot (none when no handler is registered).
    private let slotSubscriptions: [OonaSubscription]
    private let cullHandler = Mutex<CullHandler?>(nil)

    /// Hands an operator's cull of a held run to its seeds; returns whether it is settled
    /// (taken, or refused for good) — an unsettled one is offered again at the next beat.
    public typealias CullHandler = @Sendable (_ runId: String, _ seedId: String) -> Bool

    /// From now on the heartbeat hands the culls operators ask of held runs to `handler`.
    public func relayCulls(to handler: @escaping CullHandler) { cullHandler.withLock { $0 = handler } }

    struct Held {
        var kind: JobKind
        var stream: OonaStream
        var runId: String?
        var entryId: String
        var deliveries: Int
        var consumer: String
        var sinceMs: Int64
        var control: RunControl?
        var lost = false
    }

    struct State {
        var held: [Int: Held] = [:]
        var startedMs: Int64 = 0
    }

    public init(queue: JobQueue, handlers: JobHandlerRegistry<WorkerRuntime>, options: Options, logger: Logger) {
        self.queue = queue
        self.handlers = handlers
        self.options = options
        self.logger = logger
        host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "host"
        id = queue.bus.configuration.consumerName
        records = RecordPublisher(bus: queue.bus, logger: logger)
        let streams = handlers.kinds.map(\.stream)
        let id = self.id
        slotSubscriptions =
            streams.isEmpty
            ? []
            : (0..<options.slots).map { slot in
                OonaSubscription(
                    client: queue.bus,
                    options: .init(
                        streams: streams, group: JobQueue.group, consumer: "\(id)-s\(slot)", groupStart: "0", count: 1,
                        block: options.block, claimCount: 1, threadName: "worker-s\(slot)", stackSize: 4 << 20))
            }
    }

    public var name: String { "worker-slots" }

    /// Unhealthy while a slot cannot read its job streams.
    public var health: ServiceHealth {
        let failing = slotSubscriptions.map(\.health).filter { !$0.healthy }
        if let first = failing.first { return ServiceHealth(healthy: false, detail: "\(failing.count) slot(s) failing: \(first.detail)") }
        return ServiceHealth(healthy: true, detail: "\(options.slots) slot(s) on \(handlers.kinds.map(\.rawValue).joined(separator: ","))")
    }

    /// How long a job's lease lasts without a heartbeat: the bus' claim timeout, after which
    /// other workers reclaim the entry.
    var leaseMs: Int64 {
        let idle = queue.bus.configuration.claimMinIdle.components
        return idle.seconds * 1000 + idle.attoseconds / 1_000_000_000_000_000
    }

    public var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// Starts the slots and the heartbeat. The group is created when Redis answers (a slot
    /// that finds it missing recreates it from the start of the stream).
    public func start() {
        do { try queue.ensureGroup() } catch {
            logger.warning("job group not created yet; the slots retry", metadata: ["error": "\(error)"])
        }
        guard !heartbeat.isRunning else { return }
        state.withLock { $0.startedMs = Int64(Date().timeIntervalSince1970 * 1000) }
        for (slot, subscription) in slotSubscriptions.enumerated() { startSlot(slot, subscription) }
        heartbeat.start { [self] stop in heartbeatLoop(until: stop) }
        logger.info(
            "worker started",
            metadata: [
                "worker": "\(id)", "slots": "\(options.slots)", "kinds": "\(handlers.kinds.map(\.rawValue).joined(separator: ","))",
                "local": "\(options.local)",
            ])
    }

    /// Stops taking jobs; running trainers stop at their next batch and their jobs go back
    /// on the queue (resumable from the last checkpoint by any worker). Waits up to `timeout`.
    public func stop() { stop(timeout: .seconds(30)) }

    public func stop(timeout: Duration) {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        state.withLock { state in
            for held in state.held.values { held.control?.suspend() }
        }
        slotSubscriptions.forEach { $0.requestStop() }
        heartbeat.requestStop()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        let slotsEnded = slotSubscriptions.allSatisfy { $0.join(until: deadline) }
        if !slotsEnded || !heartbeat.join(until: deadline) {
            logger.warning("worker slots still busy at shutdown")
        }
        records.flush()
        try? queue.removeWorker(id)
    }

    // MARK: slots

    struct Abandoned: Error {}

    private func startSlot(_ slot: Int, _ subscription: OonaSubscription) {
        let consumer = subscription.options.consumer
        subscription.start(
            onDeadLetter: { [self] stream, entry, reason, detail in
                guard let kind = JobKind.allCases.first(where: { $0.stream == stream }), let handler = handlers.handler(for: kind) else {
                    return
                }
                handler.deadLettered(job: WorkerRuntime.job(in: entry), reason: "\(reason.rawValue): \(detail)", worker: self)
            }
        ) { [self] delivery in
            guard case .unspecified(let payload) = delivery.message, let object = payload.objectValue,
                let kind = object["kind"]?.stringValue.flatMap(JobKind.init(rawValue:)), let handler = handlers.handler(for: kind),
                let job = object["job"]
            else {
                logger.error("unreadable job dropped", metadata: ["stream": "\(delivery.stream)", "id": "\(delivery.entryId)"])
                return
            }
            let context = JobContext(
                kind: kind, stream: delivery.stream, entryId: delivery.entryId, job: job, deliveryCount: delivery.deliveryCount,
                consumer: consumer, slot: slot)
            switch handler.handle(context, worker: self) {
            case .done:
                return
            case .requeue(let again):
                try queue.publish(kind: kind, job: again)
            case .abandoned:
                throw Abandoned()
            }
        }
    }

    /// The `job` object of a raw entry (for dead letters).
    static func job(in entry: StreamEntry) -> JSONValue? {
        guard let payload = entry.fields["payload"],
            let envelope = try? LeylineCodec.decode(BusEnvelope.self, from: payload, strict: false),
            case .unspecified(let value) = envelope.message
        else { return nil }
        return value.objectValue?["job"]
    }

    // MARK: holding jobs (called by handlers on their slot's thread)

    /// Takes the run's lease for this job. `.busy` (another live entry holds the run) is
    /// waited out up to the claim timeout — the holder may be just giving the run up (a
    /// pause followed at once by a resume); after that the holder is alive and training it,
    /// and this job is a duplicate.
    public func take(_ context: JobContext, runId: String) -> JobQueue.Hold {
        let deadline = ContinuousClock.now.advanced(by: .milliseconds(leaseMs + 500))
        while true {
            let hold: JobQueue.Hold
            do {
                hold = try queue.hold(
                    stream: context.stream, runId: runId, entryId: context.entryId, consumer: context.consumer, leaseMs: leaseMs)
            } catch {
                logger.warning("cannot take a job's lease; leaving it for later", metadata: ["run": "\(runId)", "error": "\(error)"])
                return .lost
            }
            if hold != .busy || ContinuousClock.now >= deadline || isStopping {
                if hold == .held {
                    let now = (try? queue.serverMilliseconds()) ?? Int64(Date().timeIntervalSince1970 * 1000)
                    state.withLock {
                        $0.held[context.slot] = Held(
                            kind: context.kind, stream: context.stream, runId: runId, entryId: context.entryId,
                            deliveries: context.deliveryCount, consumer: context.consumer, sinceMs: now)
                    }
                }
                return hold
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
    }

    /// Runs `body` while this slot holds the job's lease for `runId`, and lets the lease go
    /// after: a stopping worker requeues the job, a lost lease abandons it, and a job another
    /// slot holds is a duplicate (done). The prologue of every short job (policy, compile);
    /// training jobs hold and release their lease around checkpoints themselves.
    public func holding(_ context: JobContext, runId: String, _ body: () -> JobDisposition) -> JobDisposition {
        if isStopping { return .requeue(context.job) }
        switch take(context, runId: runId) {
        case .lost: return .abandoned
        case .busy: return .done
        case .held: break
        }
        defer { letGo(slot: context.slot) }
        return body()
    }

    /// From now on the heartbeat relays the run's controls to `control`.
    public func attach(_ control: RunControl, slot: Int) {
        state.withLock { $0.held[slot]?.control = control }
    }

    /// The attempt (`JobAttempt`) of the job this worker holds for `runId`, if any: what
    /// records sent on the run's behalf from outside its trainer (field reports, seed views)
    /// carry.
    public func attempt(runId: String) -> String? {
        state.withLock { state in
            state.held.values.first { $0.runId == runId && !$0.lost }.map {
                JobAttempt(entryId: $0.entryId, deliveries: $0.deliveries).description
            }
        }
    }

    /// Whether another worker took the job over while this one held it.
    public func lost(slot: Int) -> Bool { state.withLock { $0.held[slot]?.lost ?? false } }

    /// Done with the slot's job: no more heartbeats for it; its lease goes (unless lost).
    public func letGo(slot: Int) {
        guard let held = state.withLock({ $0.held.removeValue(forKey: slot) }) else { return }
        guard !held.lost, let runId = held.runId else { return }
        do { try queue.release(runId: runId, entryId: held.entryId) } catch {
            logger.debug("lease not released (it lapses by itself)", metadata: ["run": "\(runId)", "error": "\(error)"])
        }
    }

    /// The run's control as the server set it (nil: none — the run is over or unknown).
    public func control(runId: String) throws -> RunControlState? { try queue.controls(runIds: [runId])[runId] }

    /// Waits until every record reached Redis (or the worker stops): a job is acknowledged
    /// only after what it produced is on the bus.
    public func drainRecords() {
        var wait = 0.05
        while !records.flush() {
            if isStopping && records.waiting > 0 {
                Thread.sleep(forTimeInterval: 0.2)
                if !records.flush() { return }
            }
            Thread.sleep(forTimeInterval: wait)
            wait = min(wait * 2, 2)
        }
    }

    // MARK: heartbeat

    private func heartbeatLoop(until stop: StopSignal) {
        var lastRegistration = ContinuousClock.now.advanced(by: .seconds(-10))
        while !stop.isStopped {
            beat(register: ContinuousClock.now - lastRegistration >= .seconds(1))
            if ContinuousClock.now - lastRegistration >= .seconds(1) { lastRegistration = ContinuousClock.now }
            stop.wait(options.heartbeatInterval)
        }
    }

    /// One heartbeat: keep every held job, relay controls, flush records, and (every
    /// second) refresh the worker's registry entry.
    func beat(register: Bool) {
        let held = state.withLock { $0.held }
        do {
            var commands: [[String]] = []
            let holding = held.filter { $0.value.runId != nil && !$0.value.lost }
            for (_, job) in holding {
                commands.append(
                    queue.holdCommand(stream: job.stream, runId: job.runId!, entryId: job.entryId, consumer: job.consumer, leaseMs: leaseMs)
                )
            }
            let runIds = holding.values.compactMap(\.runId)
            if !runIds.isEmpty { commands.append(["HMGET", queue.controlKey] + runIds) }
            let culls = cullHandler.withLock { $0 }
            let cullRuns = culls == nil ? [] : runIds
            for run in cullRuns { commands.append(["SMEMBERS", queue.cullKey(run)]) }
            commands.append(["TIME"])
            let replies = try queue.bus.execute(commands)
            var index = 0
            var lostRuns: [String] = []
            for (slot, job) in holding {
                let reply = replies[index]
                index += 1
                if reply.text == JobQueue.Hold.lost.rawValue {
                    lostRuns.append(job.runId ?? "")
                    state.withLock { state in
                        state.held[slot]?.lost = true
                        state.held[slot]?.control?.suspend()
                    }
                }
            }
            if !runIds.isEmpty {
                let values = replies[index].array ?? []
                index += 1
                for (run, value) in zip(runIds, values) {
                    guard let control = holding.values.first(where: { $0.runId == run })?.control else { continue }
                    switch value.text.flatMap(RunControlState.init(rawValue:)) {
                    case .stop?: control.stop()
                    case .pause?: control.pause(true)
                    case .run?: control.pause(false)
                    case nil: break
                    }
                }
            }
            var settled: [[String]] = []
            for run in cullRuns {
                let seeds = replies[index].array?.compactMap(\.text) ?? []
                index += 1
                for seed in seeds where culls?(run, seed) == true {
                    logger.info("operator cull relayed to the run's seeds", metadata: ["run": "\(run)", "seed": "\(seed)"])
                    settled.append(["SREM", queue.cullKey(run), seed])
                }
            }
            if !settled.isEmpty { _ = try queue.bus.execute(settled) }
            for run in lostRuns {
                logger.warning("another worker took over a run this one held; letting go", metadata: ["run": "\(run)"])
            }
            records.flush()
            if register {
                let time = replies[index].array ?? []
                let now =
                    (time.first?.text.flatMap { Int64($0) } ?? 0) * 1000
                    + (time.count > 1 ? (time[1].text.flatMap { Int64($0) } ?? 0) / 1000 : 0)
                let snapshot = state.withLock { $0 }
                let info = WorkerInfo(
                    id: id, host: host, pid: getpid(), local: options.local, slots: options.slots, kinds: handlers.kinds,
                    startedMs: snapshot.startedMs, lastSeenMs: now,
                    jobs: snapshot.held.sorted { $0.key < $1.key }.map {
                        WorkerInfo.Job(
                            slot: $0.key, kind: $0.value.kind, runId: $0.value.runId, entryId: $0.value.entryId, sinceMs: $0.value.sinceMs)
                    })
                try queue.recordWorker(info)
            }
        } catch {
            logger.debug("worker heartbeat failed", metadata: ["error": "\(error)"])
        }
    }
}
