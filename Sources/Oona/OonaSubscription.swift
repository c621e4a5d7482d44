import Synchronization

/// One consumer-group subscription run in the background: it owns its thread, creates the
/// group (retrying with `OonaBackoff` while Redis is down), runs an `OonaConsumer` over the
/// streams (pending re-read, reclaim, emergency first, dead letters and acknowledgements as
/// `OonaConsumer` documents), keeps its health and stops in order: `stop()` wakes the thread
/// out of any pause and returns once it has ended (within one read's `block` plus the
/// handler in progress).
public final class OonaSubscription: Sendable {
    public struct Options: Sendable {
        /// In priority order is not needed: the consumer puts emergency first.
        public var streams: [OonaStream]
        public var group: String
        /// The consumer's name in the group (one per subscription).
        public var consumer: String
        /// Where a group created here starts: `$` (only what comes after) or `0` (the whole
        /// stream, for queues whose entries written while nobody read must not be lost).
        public var groupStart: String
        /// Entries per read, and how long a read blocks when nothing waits.
        public var count: Int
        public var block: Duration
        /// After a read that found fewer than `count` entries, wait this long before the next:
        /// entries that arrive meanwhile are read and acknowledged together (a steady trickle
        /// costs two round trips a batch, not two an entry), each delayed by at most this.
        public var linger: Duration
        /// At most this many entries claimed per reclaim round (nil: `count`).
        public var claimCount: Int?
        /// The thread's name (also the service name).
        public var threadName: String
        public var stackSize: Int?

        public init(
            streams: [OonaStream], group: String, consumer: String, groupStart: String = "$", count: Int = 10,
            block: Duration = .milliseconds(250), linger: Duration = .zero, claimCount: Int? = nil, threadName: String,
            stackSize: Int? = nil
        ) {
            self.streams = streams
            self.group = group
            self.consumer = consumer
            self.groupStart = groupStart
            self.count = count
            self.block = block
            self.linger = linger
            self.claimCount = claimCount
            self.threadName = threadName
            self.stackSize = stackSize
        }
    }

    public typealias Handler = @Sendable (OonaDelivery) throws -> Void
    /// Called after an entry was dead-lettered (see `OonaConsumer.onDeadLetter`).
    public typealias DeadLetterHandler =
        @Sendable (_ stream: OonaStream, _ entry: StreamEntry, _ reason: DeadLetterReason, _ detail: String)
        -> Void

    /// What the subscription knows about itself.
    public struct Status: Sendable {
        public var running = false
        /// The group exists on every stream (created here, or found).
        public var groupReady = false
        /// The last failure (group creation or a read), cleared by nothing: see `consecutiveFailures`.
        public var lastError: String?
        /// Failures since the last success (0: working).
        public var consecutiveFailures = 0
        /// Deliveries the handler took without throwing.
        public var handled = 0
    }

    public let client: OonaClient
    public let options: Options
    private let recorded = Mutex(Status())
    private let thread: BackgroundThread

    public init(client: OonaClient, options: Options) {
        self.client = client
        self.options = options
        thread = BackgroundThread(name: options.threadName, stackSize: options.stackSize)
    }

    public var name: String { options.threadName }

    public var status: Status {
        var status = recorded.withLock { $0 }
        status.running = thread.isRunning
        return status
    }

    /// Starts the thread that hands each delivery to `handler` (a no-op while running; the
    /// owner passes its handler here, so it may capture the owner). With `attachNow`, the
    /// first attempt to create the group is made before returning, so a process that starts
    /// with Redis up reports the group ready at once.
    public func start(attachNow: Bool = false, onDeadLetter: DeadLetterHandler? = nil, handler: @escaping Handler) {
        guard !thread.isRunning else { return }
        if attachNow { _ = attachGroup() }
        thread.start { [self] stop in consume(until: stop, onDeadLetter: onDeadLetter, handler: handler) }
    }

    /// Tells the thread to stop without waiting (to stop several subscriptions at once; then
    /// `join` each).
    public func requestStop() { thread.requestStop() }

    /// Waits for the thread to end (until `deadline`, if given); true once it has ended (or
    /// was never started).
    @discardableResult
    public func join(until deadline: ContinuousClock.Instant? = nil) -> Bool { thread.join(until: deadline) }

    /// Stops the thread and waits for it to end.
    public func stop() { thread.stop() }

    public var health: ServiceHealth {
        let status = self.status
        let streams = options.streams.map { "\($0)" }.joined(separator: ",")
        guard status.running else { return ServiceHealth(healthy: true, detail: "group '\(options.group)' not consuming (stopped)") }
        guard status.groupReady else {
            return ServiceHealth(
                healthy: false, detail: "consumer group '\(options.group)' not ready: \(status.lastError ?? "waiting for Redis")")
        }
        if status.consecutiveFailures > 0 {
            return ServiceHealth(
                healthy: false,
                detail:
                    "group '\(options.group)' on \(streams): \(status.consecutiveFailures) failed reads, last: \(status.lastError ?? "")")
        }
        return ServiceHealth(healthy: true, detail: "group '\(options.group)' on \(streams); \(status.handled) handled")
    }

    /// Entries in the streams not yet delivered to the group (Redis 7 `XINFO GROUPS` lag),
    /// summed over the streams; nil when Redis does not answer or does not know.
    public func lag() -> Int? {
        let commands = options.streams.map { ["XINFO", "GROUPS", client.keys.key($0)] }
        guard let replies = try? client.execute(commands) else { return nil }
        var total = 0
        for reply in replies {
            let groups = reply.array ?? []
            guard
                let fields = groups.lazy.compactMap({ $0.array }).first(where: { fields in
                    stride(from: 0, to: fields.count - 1, by: 2).contains {
                        fields[$0].text == "name" && fields[$0 + 1].text == self.options.group
                    }
                })
            else { return nil }
            guard let index = stride(from: 0, to: fields.count - 1, by: 2).first(where: { fields[$0].text == "lag" }),
                let lag = fields[index + 1].integer
            else { return nil }
            total += Int(lag)
        }
        return total
    }

    // MARK: the thread

    /// Creates the group on every stream; records the outcome.
    private func attachGroup() -> OonaError? {
        do {
            try client.ensureConsumerGroup(options.group, streams: options.streams, from: options.groupStart)
            recorded.withLock {
                $0.groupReady = true
                $0.consecutiveFailures = 0
            }
            return nil
        } catch {
            note(error)
            return error
        }
    }

    private func note(_ error: OonaError?) {
        recorded.withLock { status in
            if let error {
                status.lastError = "\(error)"
                status.consecutiveFailures += 1
            } else {
                status.consecutiveFailures = 0
            }
        }
    }

    private func consume(until stop: StopSignal, onDeadLetter: DeadLetterHandler?, handler: Handler) {
        var backoff = OonaBackoff()
        while !stop.isStopped && !recorded.withLock({ $0.groupReady }) {
            if let error = attachGroup() { stop.wait(backoff.delay(after: error)) }
        }
        guard !stop.isStopped else { return }
        let consumer = OonaConsumer(client: client, streams: options.streams, group: options.group, name: options.consumer)
        consumer.claimCount = options.claimCount
        if let onDeadLetter { consumer.onDeadLetter = { onDeadLetter($0, $1, $2, $3) } }
        consumer.run(
            count: options.count, block: options.block, linger: options.linger, while: { !stop.isStopped }, pause: { stop.wait($0) },
            report: { [self] in note($0) }
        ) { [self] delivery in
            try handler(delivery)
            recorded.withLock { $0.handled += 1 }
        }
        consumer.close()
    }
}
