import EsperJSON
import Foundation
public import Leyline
public import Logging
public import Prometheus
import Synchronization

/// The bus client one process shares: publishing with the reference's routing rules
/// (reroute at the emergency threshold, drop at the backpressure threshold — checked in that
/// order: drop first), consumer-group bootstrap, retention, counters, breakers, and the
/// housekeeper that samples stream statistics and sweeps expired entries. Consumers
/// (`makeConsumer`) read with their own blocking connection.
///
/// It starts even when Redis is down: publishes then fail (fast, once the breaker is open),
/// `health` says degraded, and the housekeeper keeps trying to create the consumer groups.
public final class OonaClient: LongRunningService {
    public let configuration: OonaConfiguration
    public let keys: OonaStreamKeys
    public let endpoint: RedisEndpoint
    public let metrics: OonaMetrics
    public let publishBreaker: CircuitBreaker
    public let consumeBreaker: CircuitBreaker
    let logger: Logger
    let pool: RedisConnectionPool
    let housekeeper: OonaHousekeeper
    /// Conservative mode as this process follows it (`OonaBusMode`).
    public let mode: OonaBusMode
    let backlogCache: OonaBacklogCache
    private let dropReports = Mutex(DropReports())

    /// Drops not yet announced (announced at most once a second, as one log line and one
    /// telemetry event).
    struct DropReports {
        var pending: [OonaStream: (count: Int, backlog: Int)] = [:]
        var lastSent: ContinuousClock.Instant?
    }
    /// Every XADD's constant start per stream, in RESP and in `OonaStream.allCases` order:
    /// the command header and `XADD key [MAXLEN ~ N] *`, framed once (publishing is a hot
    /// path). An entry's fields follow: `payload <envelope>` and, when signing,
    /// `signature <base64> key_id <id>`.
    let xaddHeads: [[UInt8]]
    /// The RESP of `key_id <id>` (the last field of a signed entry), framed once.
    let keyIdFieldRESP: [UInt8]
    static let payloadField = Array("payload".utf8)
    static let signatureField = Array("signature".utf8)
    static let keyIdField = Array("key_id".utf8)

    public init(
        configuration: OonaConfiguration, endpoint: RedisEndpoint, registry: PrometheusCollectorRegistry? = nil,
        logger: Logger
    ) throws(OonaError) {
        let problems = configuration.problems
        guard problems.isEmpty else { throw .configuration(problems) }
        self.configuration = configuration
        self.endpoint = endpoint
        self.logger = logger
        keys = OonaStreamKeys(names: configuration.streams)
        let metrics = OonaMetrics(registry: registry)
        self.metrics = metrics
        func breaker(_ name: String) -> CircuitBreaker {
            metrics.setBreakerGauge(name, .closed)
            return CircuitBreaker(
                name: name, failureThreshold: configuration.breakerFailureThreshold,
                recovery: configuration.breakerRecovery, halfOpenTrials: configuration.breakerHalfOpenTrials
            ) { state in
                metrics.setBreakerGauge(name, state)
                let level: Logger.Level = state == .open ? .warning : .info
                logger.log(level: level, "oona \(name) circuit breaker \(state.label)")
            }
        }
        publishBreaker = breaker("publish")
        consumeBreaker = breaker("consume")
        pool = RedisConnectionPool(
            endpoint: endpoint, connectTimeout: configuration.connectTimeout,
            commandTimeout: configuration.commandTimeout
        ) { metrics.increment(.reconnects) }
        mode = OonaBusMode(sample: configuration.conservativeTelemetrySample)
        backlogCache = OonaBacklogCache(interval: configuration.backlogRefreshInterval, publishes: configuration.backlogRefreshPublishes)
        housekeeper = OonaHousekeeper(
            configuration: configuration, keys: keys, endpoint: endpoint, metrics: metrics, logger: logger, mode: mode,
            backlogCache: backlogCache)
        let fieldArguments = configuration.signer == nil ? 2 : 6
        let keys = keys
        xaddHeads = OonaStream.allCases.map { stream in
            var prefix: [[UInt8]] = [Array("XADD".utf8), Array(keys.key(stream).utf8)]
            // Job-queue streams are never trimmed by length: their entries are work
            // (`OonaWorkRetention` removes what is done).
            if let maxLength = configuration.maxStreamLength, !stream.isJobQueue {
                prefix += [Array("MAXLEN".utf8), Array((configuration.exactTrimming ? "=" : "~").utf8), Array(String(maxLength).utf8)]
            }
            prefix.append(Array("*".utf8))
            var head = RESPCommandBuffer(capacity: 128)
            head.begin(arguments: prefix.count + fieldArguments)
            for argument in prefix { head.argument(argument) }
            return head.bytes
        }
        var keyId = RESPCommandBuffer(capacity: 32)
        keyId.argument(OonaClient.keyIdField)
        keyId.argument(Array((configuration.signer?.current.id ?? "").utf8))
        keyIdFieldRESP = keyId.bytes
    }

    /// Starts the housekeeper (group bootstrap, statistics, TTL sweep). Returns at once; with
    /// Redis down the client runs degraded until Redis answers.
    public func start() {
        guard let interval = configuration.queueDepthTelemetryInterval else {
            housekeeper.start { [weak self] _ in self?.announceDrops() }
            return
        }
        // (The server reports once right after start with `reportQueueDepthNow`.)
        let next = Mutex(ContinuousClock.now.advanced(by: interval))
        let drops = Mutex(OonaDropTracker())
        housekeeper.start { [weak self] report in
            guard let self else { return }
            announceDrops()
            let due = next.withLock { next -> Bool in
                guard ContinuousClock.now >= next else { return false }
                next = ContinuousClock.now.advanced(by: interval)
                return true
            }
            if due { publishQueueDepth(report, newDrops: drops.withLock { $0.newDrops(housekeeper.fleet) }) }
        }
    }

    /// `oona.queue.depth` (the backlog), `oona.queue.pending` and `oona.queue.length` per
    /// stream, and `oona.publish.dropped` (drops fleet-wide since the previous report), as
    /// telemetry from `oona`: the metrics Nissa's `oona_queue_depth` and
    /// `oona_publish_dropped` alerts read (nothing produced them in the reference). Best
    /// effort: a failure is only logged.
    @discardableResult
    func publishQueueDepth(_ report: OonaStreamsReport, newDrops: Int = 0) -> TelemetryPacket {
        var metrics: [MetricPoint] = [MetricPoint(name: "oona.publish.dropped", value: Double(newDrops), unit: "count")]
        for stats in report.streams {
            metrics.append(
                MetricPoint(name: "oona.queue.depth", value: Double(stats.backlog), unit: "count", attributes: ["stream": stats.stream]))
            metrics.append(
                MetricPoint(name: "oona.queue.length", value: Double(stats.length), unit: "count", attributes: ["stream": stats.stream]))
            metrics.append(
                MetricPoint(name: "oona.queue.pending", value: Double(stats.pending), unit: "count", attributes: ["stream": stats.stream]))
        }
        let packet = TelemetryPacket.build(
            packetId: "oona-depth-\(report.sampledAt.millisecondsSinceEpoch)", source: "oona", level: .info,
            metrics: metrics, healthSummary: health.detail)
        do {
            try publishTelemetry(packet, options: PublishOptions(source: "oona"))
        } catch {
            logger.debug("oona could not publish queue-depth telemetry", metadata: ["error": "\(error)"])
        }
        return packet
    }

    /// Samples the streams and publishes a queue-depth report now; returns the packet (nil
    /// when Redis did not answer). The server calls it once its consumers have their groups,
    /// and hands the packet to Nissa too: the depth series and the `/metrics` families that
    /// come from them exist right after start, not one report interval later.
    @discardableResult
    public func reportQueueDepthNow() -> TelemetryPacket? {
        housekeeper.sampleNow()
        guard let report = housekeeper.latestStats, report.error == nil else { return nil }
        return publishQueueDepth(report)
    }

    public func stop() {
        housekeeper.stop()
        pool.drain()
    }

    // MARK: consumer groups

    /// `XGROUP CREATE <stream> <group> $ MKSTREAM` on each stream; an existing group
    /// (`BUSYGROUP`) is fine, so this is idempotent. Entries added before the group existed
    /// are not delivered to it (`$`).
    /// `from: "0"` makes a new group see entries written before it existed (job queues: work
    /// enqueued before the first worker ever started).
    public func ensureConsumerGroup(
        _ group: String? = nil, streams: [OonaStream] = OonaStream.allCases, from start: String = "$"
    ) throws(OonaError) {
        let group = group ?? configuration.group
        try call(publishBreaker) { connection throws(RedisError) in
            for stream in streams {
                let reply = try connection.command(["XGROUP", "CREATE", keys.key(stream), group, start, "MKSTREAM"])
                if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
                    return OonaError.redis("XGROUP CREATE \(keys.key(stream)) \(group): \(message)")
                }
            }
            return nil
        }
        if group == configuration.group && Set(streams) == Set(OonaStream.allCases) { housekeeper.markGroupsReady() }
    }

    /// Whether the housekeeper has created the configured group on every stream.
    public var consumerGroupsReady: Bool { housekeeper.groupsReady }

    /// Runs commands in one round trip on a pooled connection, behind the publish breaker
    /// (job leases, run controls, the worker registry). Error replies are returned, not
    /// thrown; only an unreachable Redis or an open breaker throws.
    public func execute(_ commands: [[String]]) throws(OonaError) -> [RedisReply] {
        try call(publishBreaker) { connection throws(RedisError) -> Result<[RedisReply], OonaError> in
            let replies = try connection.pipeline(commands)
            let transient = ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "OOM", "READONLY"]
            for reply in replies {
                if case .error(let message) = reply, transient.contains(where: { message.hasPrefix($0) }) {
                    return .failure(.unavailable(message))
                }
            }
            return .success(replies)
        }.get()
    }

    // MARK: publishing

    /// Publishes one message; `.dropped` when a backpressure threshold refused it.
    @discardableResult
    public func publish(_ message: BusMessage, options: PublishOptions = PublishOptions()) throws(OonaError) -> PublishOutcome {
        let outcome = try publish(batch: [(message, options)])[0]
        if case .rejected(let error) = outcome { throw error }
        return outcome
    }

    @discardableResult
    public func publishState(_ packet: SystemStatePacket, emergency: Bool = false) throws(OonaError) -> PublishOutcome {
        try publish(.systemState(packet), options: PublishOptions(emergency: emergency))
    }

    @discardableResult
    public func publishCommand(_ command: AdaptationCommand, options: PublishOptions = PublishOptions()) throws(OonaError) -> PublishOutcome
    {
        try publish(.adaptationCommand(command), options: options)
    }

    @discardableResult
    public func publishFieldReport(_ report: FieldReport, options: PublishOptions = PublishOptions()) throws(OonaError) -> PublishOutcome {
        try publish(.fieldReport(report), options: options)
    }

    @discardableResult
    public func publishTelemetry(_ packet: TelemetryPacket, options: PublishOptions = PublishOptions()) throws(OonaError) -> PublishOutcome
    {
        try publish(.telemetry(packet), options: options)
    }

    @discardableResult
    public func publishPolicyUpdate(_ update: PolicyUpdate, options: PublishOptions = PublishOptions()) throws(OonaError) -> PublishOutcome
    {
        try publish(.policyUpdate(update), options: options)
    }

    /// The stream a message goes to before backpressure: state, commands and field reports →
    /// normal; telemetry → telemetry; policy updates → policy.
    public static func preferredStream(for message: BusMessage) -> OonaStream? {
        switch message {
        case .systemState, .adaptationCommand, .fieldReport: .normal
        case .telemetry: .telemetry
        case .policyUpdate: .policy
        case .unspecified: nil
        }
    }

    /// One message, wrapped, validated, encoded and signed: the entry's fields.
    struct Prepared {
        let preferred: OonaStream
        let toEmergency: Bool
        let eventId: String
        /// Telemetry detail, which conservative mode samples.
        let sheddable: Bool
        /// Where the entry's fields are framed in the round trip's `PublishScratch.fields`;
        /// nil when the message could not be encoded (`rejection` says why).
        let fields: Range<Int>?
        let rejection: OonaError?
    }

    /// The buffers one publish call reuses for every message and round trip: the JSON
    /// writer, the framed fields of the round trip being prepared, and the commands being
    /// sent. Nothing is allocated per message but the entry's outcome.
    final class PublishScratch {
        var writer = LeylineJSONWriter(capacity: 4096)
        var fields: RESPCommandBuffer
        var commands: RESPCommandBuffer

        /// Sized for `entries` typical entries per round trip (the buffers grow if needed).
        init(entries: Int) {
            fields = RESPCommandBuffer(capacity: entries * 1024 + 256)
            commands = RESPCommandBuffer(capacity: entries * 1280 + 512)
        }
    }

    /// Publishes messages in order, pipelined `depth` at a time on one connection: each
    /// round trip writes up to `depth` entries (plus the length reads routing needs), and
    /// while Redis works on one round trip the next one is prepared (enveloped, encoded,
    /// signed), so the client's CPU work overlaps the server's.
    ///
    /// Routing follows the reference algorithm per message, in order: the first round trip
    /// reads the stream lengths, every later one learns them from the previous round trip's
    /// replies, and within a round trip the lengths advance with the entries it routes —
    /// what the same publishes one at a time from a single publisher would see.
    ///
    /// Every message is validated before anything is sent: an invalid one fails the whole
    /// batch (`invalidMessage`, naming `[index].field`). A message whose encoding exceeds the
    /// entry cap gets a `.rejected` outcome; the others are still published.
    public func publish(batch: [(BusMessage, PublishOptions)], depth: Int = 16) throws(OonaError) -> [PublishOutcome] {
        let started = ContinuousClock.now
        // Everything is validated before anything is sent; what is kept of each message is
        // its route (two bytes), not its envelope: a large batch allocates no array of
        // envelopes (whose fresh pages cost more than building each envelope again at its
        // round trip).
        var routes: [Route] = []
        routes.reserveCapacity(batch.count)
        var validator = LeylineValidator()
        let checkedAt = LeylineTimestamp.now()
        for (index, (message, options)) in batch.enumerated() {
            do {
                routes.append(try route(message, options, checkedAt: checkedAt, &validator))
            } catch {
                metrics.publishFailed(reason: error.reason)
                if batch.count > 1, case .invalidMessage(let problems) = error {
                    throw .invalidMessage(problems.map { JSONFieldProblem(field: "[\(index)].\($0.field)", message: $0.message) })
                }
                throw error
            }
        }
        let outcomes: [PublishOutcome]
        do {
            outcomes = try call(publishBreaker) { connection throws(RedisError) in
                try pipelinedPublish(batch, routes, depth: max(1, depth), connection)
            }.get()
        } catch {
            metrics.publishFailed(reason: error.reason)
            throw error
        }
        // Counted in place: a filtered copy of a large batch's outcomes is fresh pages to fault in.
        var written = 0
        for outcome in outcomes where outcome.wasPublished { written += 1 }
        if written > 0 { metrics.recordPublish((ContinuousClock.now - started) / written) }
        if outcomes.contains(where: { if case .dropped = $0 { return true } else { return false } }) { announceDrops() }
        return outcomes
    }

    /// Publishes one message to a job stream together with `commands` run before it, in one
    /// MULTI/EXEC transaction and one round trip (a run's control and its job): a connection
    /// or a Redis lost before EXEC leaves none of them, one lost after it all of them (Redis
    /// writes a transaction to its append-only file whole). Returns the entry id. Job streams
    /// have no backpressure routing: the entry goes to the stream named in `options`.
    ///
    /// `announcements` are published in the same transaction, after the commands and before
    /// the job (a new run's `queued` status: no worker can take the job, and announce
    /// `running`, before it). They must go to a stream written as it is — not the normal or
    /// emergency stream, whose backpressure routing may drop or reroute an entry, and not
    /// telemetry detail, which conservative mode samples — else nothing is sent
    /// (`.invalidMessage`).
    ///
    /// A command that fails while EXEC runs (a key of the wrong type) does not undo the
    /// others — Redis has no rollback — and is thrown as `.redis`, like a refused XADD.
    @discardableResult
    public func publish(
        _ message: BusMessage, options: PublishOptions, after commands: [[String]],
        announcing announcements: [(BusMessage, PublishOptions)] = []
    ) throws(OonaError) -> String {
        let started = ContinuousClock.now
        guard let stream = options.stream, stream.isJobQueue else {
            throw .invalidMessage([
                JSONFieldProblem(field: "stream", message: "a publish with commands goes to a job stream (pass options.stream)")
            ])
        }
        var validator = LeylineValidator()
        let checkedAt = LeylineTimestamp.now()
        let route: Route
        var announcementRoutes: [Route] = []
        do throws(OonaError) {
            route = try self.route(message, options, checkedAt: checkedAt, &validator)
            for (index, announcement) in announcements.enumerated() {
                let announcementRoute = try self.route(announcement.0, announcement.1, checkedAt: checkedAt, &validator)
                guard !announcementRoute.toEmergency, announcementRoute.preferred != .normal, announcementRoute.preferred != .emergency,
                    !OonaBusMode.isDetail(announcement.0)
                else {
                    throw OonaError.invalidMessage([
                        JSONFieldProblem(
                            field: "announcements[\(index)]",
                            message: "a message published with a job goes to a stream without backpressure routing or sampling")
                    ])
                }
                announcementRoutes.append(announcementRoute)
            }
        } catch {
            metrics.publishFailed(reason: error.reason)
            throw error
        }
        let entryId: String
        do {
            entryId = try call(publishBreaker) { connection throws(RedisError) -> Result<String, OonaError> in
                let scratch = PublishScratch(entries: 1 + announcements.count)
                var announced: [(fields: Range<Int>, stream: OonaStream)] = []
                for (announcement, announcementRoute) in zip(announcements, announcementRoutes) {
                    let prepared = prepare(announcement, announcementRoute, scratch)
                    guard let fields = prepared.fields else { return .failure(prepared.rejection ?? .redis("message not encoded")) }
                    announced.append((fields, announcementRoute.preferred))
                }
                let prepared = prepare((message, options), route, scratch)
                guard let fields = prepared.fields else { return .failure(prepared.rejection ?? .redis("message not encoded")) }
                scratch.commands.reset()
                scratch.commands.command([Array("MULTI".utf8)])
                for command in commands { scratch.commands.command(command.map { Array($0.utf8) }) }
                for entry in announced {
                    scratch.commands.command(head: xaddHeads[entry.stream.ordinal], rest: scratch.fields.bytes[entry.fields])
                }
                scratch.commands.command(head: xaddHeads[stream.ordinal], rest: scratch.fields.bytes[fields])
                scratch.commands.command([Array("EXEC".utf8)])
                try connection.send(scratch.commands)
                // MULTI's OK, a QUEUED per command, then EXEC's replies (or EXECABORT when a
                // command was refused while queueing: nothing ran).
                let queued = commands.count + announced.count + 1
                let replies = try connection.receiveTexts(0, then: queued + 2).others
                if let failure = OonaClient.failure(in: replies) { return .failure(failure) }
                guard let results = replies.last?.array, results.count == queued else {
                    return .failure(.redis("the transaction did not run"))
                }
                if let failure = OonaClient.failure(in: results) { return .failure(failure) }
                guard let id = results.last?.text else { return .failure(.redis("XADD gave no entry id")) }
                return .success(id)
            }.get()
        } catch {
            metrics.publishFailed(reason: error.reason)
            throw error
        }
        metrics.increment(.publishTotal, by: 1 + announcements.count)
        metrics.recordPublish(ContinuousClock.now - started)
        return entryId
    }

    /// Where a message goes before backpressure, and whether it goes to the emergency stream.
    struct Route {
        let preferred: OonaStream
        let toEmergency: Bool
    }

    /// The envelope a message travels in. Its `event_id` and `created_at` are made when the
    /// message's round trip is prepared (`prepare`).
    private func envelope(_ message: BusMessage, _ options: PublishOptions, eventId: String, createdAt: LeylineTimestamp) -> BusEnvelope {
        BusEnvelope(
            message: message, eventId: eventId, createdAt: createdAt, sourceSubsystem: options.source ?? configuration.sourceSubsystem,
            priority: options.priority, ttl: LeylineDuration(options.ttl ?? configuration.messageTTL), currentAttempt: 1,
            maxAttempts: UInt32(configuration.maxAttempts), correlationId: options.correlationId, attributes: options.attributes)
    }

    /// A valid `event_id` standing in for the one `EventID.make` gives the message later: the
    /// envelope is validated before its round trip, and every id `EventID.make` makes is a
    /// valid identifier (36 bytes of hex digits and dashes), as every `created_at` the clock
    /// gives is a valid timestamp — the only two fields that differ between the envelope
    /// validated and the one sent.
    static let validatedEventId = "00000000-0000-4000-8000-000000000000"

    /// Routes and validates one message (the whole envelope, with `validator` reused across
    /// the batch); encoding and signing happen per round trip.
    private func route(
        _ message: BusMessage, _ options: PublishOptions, checkedAt: LeylineTimestamp, _ validator: inout LeylineValidator
    ) throws(OonaError) -> Route {
        guard let preferred = options.stream ?? OonaClient.preferredStream(for: message) else {
            throw .invalidMessage([
                JSONFieldProblem(
                    field: "message_type",
                    message: "BUS_MESSAGE_TYPE_UNSPECIFIED can only be published to a job stream (pass options.stream)")
            ])
        }
        if case .unspecified = message, !preferred.isJobQueue {
            throw .invalidMessage([
                JSONFieldProblem(
                    field: "message_type",
                    message: "BUS_MESSAGE_TYPE_UNSPECIFIED can only be published to a job stream, not \(preferred)")
            ])
        }
        do {
            try LeylineCodec.check(
                envelope(message, options, eventId: OonaClient.validatedEventId, createdAt: checkedAt), reusing: &validator)
        } catch {
            throw .invalidMessage(error.problems)
        }
        let toEmergency = options.emergency || options.priority == .critical || preferred == .emergency
        return Route(preferred: preferred, toEmergency: toEmergency)
    }

    /// Wraps (a new event id, `created_at` now), encodes, checks the size, signs and frames one
    /// validated message's fields (RESP) at the end of `scratch.fields`: the envelope is
    /// encoded into the reused writer and signed and copied from there, never held as its own
    /// array.
    private func prepare(_ item: (BusMessage, PublishOptions), _ route: Route, _ scratch: PublishScratch) -> Prepared {
        let (message, options) = item
        let (preferred, toEmergency) = (route.preferred, route.toEmergency)
        let envelope = envelope(message, options, eventId: EventID.make(), createdAt: .now())
        let sheddable = !toEmergency && OonaBusMode.isDetail(message)
        func rejected(_ error: OonaError) -> Prepared {
            Prepared(
                preferred: preferred, toEmergency: toEmergency, eventId: envelope.eventId, sheddable: sheddable, fields: nil,
                rejection: error)
        }
        let start = scratch.fields.bytes.count
        let frame = { (payload: UnsafeBufferPointer<UInt8>) -> OonaError? in
            let limit = SystemLimits.standard.maxEnvelopeBytes
            guard payload.count <= limit else { return .tooLarge(bytes: payload.count, limit: limit) }
            scratch.fields.argument(OonaClient.payloadField)
            scratch.fields.argument(payload)
            if let signer = self.configuration.signer {
                scratch.fields.argument(OonaClient.signatureField)
                scratch.fields.argument(length: LeylineSigner.signatureLength) { signer.writeSignature(of: payload, to: $0) }
                scratch.fields.append(self.keyIdFieldRESP)
            }
            return nil
        }
        let failure: OonaError?
        if LeylineCodec.write(envelope, into: &scratch.writer) {
            failure = scratch.writer.withBytes(frame)
        } else {
            // A value only the reference encoder writes (or refuses, naming the field).
            do {
                failure = try LeylineCodec.encode(envelope).withUnsafeBufferPointer(frame)
            } catch {
                return rejected(.invalidMessage(error.problems))
            }
        }
        if let failure { return rejected(failure) }
        return Prepared(
            preferred: preferred, toEmergency: toEmergency, eventId: envelope.eventId, sheddable: sheddable,
            fields: start..<scratch.fields.bytes.count, rejection: nil)
    }

    /// Prepares the next round trip's messages into the emptied `scratch.fields`.
    private func prepare(
        _ batch: [(BusMessage, PublishOptions)], _ routes: [Route], _ range: Range<Int>, _ scratch: PublishScratch
    ) -> [Prepared] {
        scratch.fields.reset()
        var prepared: [Prepared] = []
        prepared.reserveCapacity(range.count)
        for index in range { prepared.append(prepare(batch[index], routes[index], scratch)) }
        return prepared
    }

    private enum Decision {
        case write(OonaStream, rerouted: Bool)
        case drop(OonaStream, backlog: Int)
        case shed(OonaStream)
        case reject(OonaError)
    }

    /// The publish algorithm of `09-oona.md` §3 — drop test first, then the reroute test,
    /// both on the normal stream only — with three changes: the tests read the *backlog* of
    /// the consuming groups (`OonaBacklog`), not the stream's length; CRITICAL priority routes
    /// like the emergency flag; and the emergency stream has a drop threshold too. In
    /// conservative mode, telemetry detail is sampled first (`OonaBusMode`).
    private func pipelinedPublish(
        _ items: [(BusMessage, PublishOptions)], _ routes: [Route], depth: Int, _ connection: RedisConnection
    )
        throws(RedisError) -> Result<[PublishOutcome], OonaError>
    {
        let emergencyCap = configuration.effectiveEmergencyDropThreshold
        let throttlesNormal = configuration.emergencyThreshold != nil || configuration.backpressureDropThreshold != nil
        let routed = routes.contains {
            ($0.preferred == .normal && !$0.toEmergency && throttlesNormal) || ($0.toEmergency && emergencyCap != nil)
        }
        let backlogCommands = OonaBacklog.commands(key: keys.key(.normal)) + OonaBacklog.commands(key: keys.key(.emergency))
        func readBacklogs(_ replies: ArraySlice<RedisReply>) -> (normal: Int, emergency: Int) {
            let base = replies.startIndex
            return (
                OonaBacklog.backlog(lengthReply: replies[base], groupsReply: replies[base + 1]),
                OonaBacklog.backlog(lengthReply: replies[base + 2], groupsReply: replies[base + 3])
            )
        }
        var normalBacklog = 0
        var emergencyBacklog = 0
        if routed {
            if backlogCache.isStale {
                let replies = try connection.pipeline(backlogCommands)
                if let failure = OonaClient.failure(in: replies.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)) {
                    return .failure(failure)
                }
                (normalBacklog, emergencyBacklog) = readBacklogs(replies[...])
                backlogCache.measured(normal: normalBacklog, emergency: emergencyBacklog)
            } else {
                let reading = backlogCache.current
                (normalBacklog, emergencyBacklog) = (reading.normal, reading.emergency)
            }
        }
        let conservative = mode.isConservative
        var outcomes: [PublishOutcome] = []
        outcomes.reserveCapacity(items.count)
        var depthSeen = 0
        var written = 0
        var rerouted = 0
        var dropped: [OonaStream: Int] = [:]
        var shed = 0
        var start = 0
        let scratch = PublishScratch(entries: min(depth, items.count))
        var chunk = prepare(items, routes, 0..<min(depth, items.count), scratch)
        while !chunk.isEmpty {
            // Route this round trip's messages against the backlogs known now.
            var decisions: [Decision] = []
            decisions.reserveCapacity(chunk.count)
            var normalWritten = 0
            var emergencyWritten = 0
            for item in chunk {
                if let rejection = item.rejection {
                    decisions.append(.reject(rejection))
                } else if conservative && item.sheddable && !mode.keepsSample() {
                    decisions.append(.shed(item.preferred))
                } else if item.toEmergency {
                    // Not a reroute; the reference did no length check here (backlog 0).
                    if let cap = emergencyCap, emergencyBacklog >= cap {
                        decisions.append(.drop(.emergency, backlog: emergencyBacklog))
                    } else {
                        decisions.append(.write(.emergency, rerouted: false))
                        emergencyBacklog += 1
                        emergencyWritten += 1
                    }
                } else if item.preferred == .normal && throttlesNormal {
                    let backlog = normalBacklog
                    depthSeen = max(depthSeen, backlog)
                    if let drop = configuration.backpressureDropThreshold, backlog >= drop {
                        decisions.append(.drop(.normal, backlog: backlog))
                    } else if let threshold = configuration.emergencyThreshold, backlog >= threshold {
                        if let cap = emergencyCap, emergencyBacklog >= cap {
                            decisions.append(.drop(.emergency, backlog: emergencyBacklog))
                        } else {
                            decisions.append(.write(.emergency, rerouted: true))
                            emergencyBacklog += 1
                            emergencyWritten += 1
                            depthSeen = max(depthSeen, emergencyBacklog)
                        }
                    } else {
                        decisions.append(.write(.normal, rerouted: false))
                        normalBacklog += 1
                        normalWritten += 1
                        depthSeen = max(depthSeen, normalBacklog)
                    }
                } else {
                    decisions.append(.write(item.preferred, rerouted: false))
                }
            }

            scratch.commands.reset()
            for (item, decision) in zip(chunk, decisions) {
                guard case .write(let stream, _) = decision, let fields = item.fields else { continue }
                scratch.commands.command(head: xaddHeads[stream.ordinal], rest: scratch.fields.bytes[fields])
            }
            // When the cached backlogs are due for a refresh, this round trip measures them
            // again (after its own writes): the routing base of the next round trip.
            backlogCache.wrote(normal: normalWritten, emergency: emergencyWritten)
            let measure = routed && backlogCache.isStale
            let writes = scratch.commands.count
            if measure { for command in backlogCommands { scratch.commands.command(command.map { Array($0.utf8) }) } }
            try connection.send(scratch.commands)

            // While Redis works: prepare the next round trip.
            start += chunk.count
            let next = start < items.count ? prepare(items, routes, start..<min(start + depth, items.count), scratch) : []

            let replies = try connection.receiveTexts(writes, then: scratch.commands.count - writes)
            if let failure = OonaClient.failure(
                in: (replies.firstError.map { [$0] } ?? []) + (measure ? [replies.others[0], replies.others[2]] : []))
            {
                return .failure(failure)
            }
            var replyIndex = 0
            for (item, decision) in zip(chunk, decisions) {
                switch decision {
                case .write(let stream, let wasRerouted):
                    let entryId = replies.texts[replyIndex]
                    replyIndex += 1
                    outcomes.append(.published(stream: stream, entryId: entryId, eventId: item.eventId, rerouted: wasRerouted))
                    written += 1
                    if wasRerouted { rerouted += 1 }
                case .drop(let stream, let backlog):
                    outcomes.append(.dropped(stream: stream, backlog: backlog))
                    dropped[stream, default: 0] += 1
                    depthSeen = max(depthSeen, backlog)
                case .shed(let stream):
                    outcomes.append(.shed(stream: stream))
                    shed += 1
                case .reject(let error):
                    outcomes.append(.rejected(error))
                    metrics.publishFailed(reason: error.reason)
                }
            }
            if measure {
                (normalBacklog, emergencyBacklog) = readBacklogs(replies.others[...])
                backlogCache.measured(normal: normalBacklog, emergency: emergencyBacklog)
                depthSeen = max(depthSeen, normalBacklog, emergencyBacklog)
            }
            chunk = next
        }
        metrics.increment(.publishTotal, by: written)
        metrics.increment(.publishRerouted, by: rerouted)
        metrics.increment(.publishShed, by: shed)
        for (stream, count) in dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            metrics.increment(.publishDropped, by: count)
            reportDrop(stream: stream, count: count, backlog: stream == .normal ? normalBacklog : emergencyBacklog)
        }
        metrics.observeDepth(depthSeen)
        return .success(outcomes)
    }

    // MARK: drops and the mode

    /// Notes drops for `announceDrops` (never publishes itself: it runs inside a publish).
    private func reportDrop(stream: OonaStream, count: Int, backlog: Int) {
        dropReports.withLock { reports in
            let known = reports.pending[stream] ?? (0, 0)
            reports.pending[stream] = (known.count + count, max(known.backlog, backlog))
        }
    }

    /// A drop anywhere is a log line (warning) and a telemetry event `oona_publish_dropped`
    /// (source `oona`, metric `oona.publish.dropped`: Nissa's `oona_publish_dropped` alert);
    /// at most once a second per process, with the counts since the last announcement.
    func announceDrops() {
        let due = dropReports.withLock { reports -> [OonaStream: (count: Int, backlog: Int)] in
            guard !reports.pending.isEmpty else { return [:] }
            if let last = reports.lastSent, ContinuousClock.now - last < .seconds(1) { return [:] }
            defer {
                reports.pending = [:]
                reports.lastSent = .now
            }
            return reports.pending
        }
        guard !due.isEmpty else { return }
        let total = due.values.reduce(0) { $0 + $1.count }
        let detail = due.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key): \($0.value.count) at backlog \($0.value.backlog)" }
        logger.warning(
            "oona dropped publishes: backlog at the drop threshold",
            metadata: [
                "dropped": "\(total)", "streams": "\(detail.joined(separator: "; "))", "publisher": "\(configuration.consumerName)",
                "publish_dropped_total": "\(metrics.value(.publishDropped))",
            ])
        let events = due.sorted { $0.key.rawValue < $1.key.rawValue }.map { stream, drop in
            TelemetryEvent(
                description: "oona_publish_dropped", level: .error,
                attributes: [
                    "stream": stream.label, "dropped": String(drop.count), "backlog": String(drop.backlog),
                    "publisher": configuration.consumerName, "publish_dropped_total": String(metrics.value(.publishDropped)),
                ])
        }
        let packet = TelemetryPacket.build(
            packetId: "oona-drop-\(configuration.consumerName)-\(UUID().uuidString.prefix(8).lowercased())", source: "oona", level: .error,
            metrics: [MetricPoint(name: "oona.publish.dropped", value: Double(total), unit: "count")], events: events,
            healthSummary: "publishes dropped")
        do {
            try publishTelemetry(packet, options: PublishOptions(source: "oona"))
        } catch {
            logger.debug("oona could not announce drops", metadata: ["error": "\(error)"])
        }
    }

    /// The operator's switch (`PUT /api/v1/oona/mode`): stored in Redis for every publisher
    /// (each follows it with its next sample) and adopted here at once.
    @discardableResult
    public func setConservativeMode(_ conservative: Bool, reason: String) throws(OonaError) -> OonaModeState {
        let state = OonaModeState(conservative: conservative, reason: reason, source: .manual)
        let replies = try execute([["SET", housekeeper.modeKey, OonaBusMode.encode(state)]])
        if let failure = OonaClient.failure(in: replies) { throw failure }
        mode.adopt(state)
        metrics.setModeGauge(conservative)
        logger.notice("oona conservative mode \(conservative ? "on" : "off") (operator)", metadata: ["reason": "\(reason)"])
        return state
    }

    /// Every publisher's counters, from the last sample.
    public var fleetCounters: OonaFleetCounters { housekeeper.fleet }

    // MARK: retention

    /// Removes entries older than the message TTL from every stream (`XTRIM MINID`): ids are
    /// the server's millisecond clock, so the cut-off is computed from Redis' `TIME`.
    @discardableResult
    public func sweepExpired() throws(OonaError) -> Int {
        let ttlMs =
            configuration.messageTTL.components.seconds * 1000 + configuration.messageTTL.components.attoseconds / 1_000_000_000_000_000
        return try call(publishBreaker) { connection throws(RedisError) in
            let time = try connection.command(["TIME"])
            guard let parts = time.array, parts.count == 2, let seconds = parts[0].text.flatMap({ Int64($0) }),
                let micros = parts[1].text.flatMap({ Int64($0) })
            else { return .failure(OonaError.redis("unexpected TIME reply \(time)")) }
            let cutoff = seconds * 1000 + micros / 1000 - ttlMs
            let commands = OonaStream.allCases.filter { !$0.isWorkQueue }.map { stream in
                ["XTRIM", keys.key(stream), "MINID", configuration.exactTrimming ? "=" : "~", "\(max(cutoff, 0))-0"]
            }
            let replies = try connection.pipeline(commands)
            if let failure = OonaClient.failure(in: replies) { return .failure(failure) }
            return .success(replies.reduce(0) { $0 + Int($1.integer ?? 0) })
        }.get()
    }

    /// Removes from the job-queue streams what every consuming group has finished
    /// (`OonaWorkRetention`; the housekeeper does it every `housekeepingInterval`).
    @discardableResult
    public func sweepFinishedWork() throws(OonaError) -> Int {
        try call(publishBreaker) { connection throws(RedisError) in
            .success(try OonaWorkRetention.sweep(connection, keys: keys, exact: configuration.exactTrimming))
        }.get()
    }

    // MARK: observation

    /// The reference's `metrics_snapshot()` plus our counters; stream figures come from the
    /// last sample (never a Redis call: HTTP handlers use this).
    public func metricsSnapshot() -> OonaMetricsSnapshot {
        OonaMetricsSnapshot(
            metrics: metrics, streams: housekeeper.latestStats, publishBreaker: publishBreaker.currentState,
            consumeBreaker: consumeBreaker.currentState, mode: mode.current, fleet: housekeeper.fleet)
    }

    /// Per-stream statistics from the last sample (nil before the first one succeeded).
    public func streamStatistics() -> OonaStreamsReport? { housekeeper.latestStats }

    /// Samples statistics now (tests, the bench).
    public func refreshStatistics() { housekeeper.sampleNow() }

    public var name: String { "oona" }

    /// For `/healthz`: degraded while a breaker is not closed or Redis never answered.
    public var health: ServiceHealth {
        let publish = publishBreaker.currentState
        let consume = consumeBreaker.currentState
        var issues: [String] = []
        if publish != .closed { issues.append("publish breaker \(publish.label)") }
        if consume != .closed { issues.append("consume breaker \(consume.label)") }
        if !housekeeper.groupsReady { issues.append("consumer groups not created yet (\(housekeeper.lastError ?? "Redis not reached"))") }
        if issues.isEmpty {
            return ServiceHealth(
                healthy: true, detail: "group \(configuration.group), consumer \(configuration.consumerName), breakers closed")
        }
        return ServiceHealth(healthy: false, detail: issues.joined(separator: "; "))
    }

    // MARK: calls

    /// Runs Redis work behind a breaker: fails fast while it is open; an I/O failure or a
    /// Redis that is loading/full counts against it.
    func call<T>(
        _ breaker: CircuitBreaker, _ body: (RedisConnection) throws(RedisError) -> Result<T, OonaError>
    ) throws(OonaError) -> Result<T, OonaError> {
        try breaker.acquire()
        let result: Result<T, OonaError>
        do {
            result = try pool.withConnection(body)
        } catch {
            breaker.recordFailure()
            throw .unavailable(error.description)
        }
        if case .failure(let failure) = result, failure.isTransient {
            breaker.recordFailure()
        } else {
            breaker.recordSuccess()
        }
        return result
    }

    /// `call` for work that reports a single error (nil: success).
    func call(_ breaker: CircuitBreaker, _ body: (RedisConnection) throws(RedisError) -> OonaError?) throws(OonaError) {
        let result: Result<Void, OonaError> = try call(breaker) { connection throws(RedisError) in
            if let error = try body(connection) { return .failure(error) }
            return .success(())
        }
        try result.get()
    }

    /// The first error reply, as an OonaError: a Redis that is loading its data, out of
    /// memory, busy or read-only is "unavailable" (transient); anything else is refused.
    static func failure(in replies: [RedisReply]) -> OonaError? {
        for reply in replies {
            guard case .error(let message) = reply else { continue }
            let transient = ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "OOM", "READONLY"]
            if transient.contains(where: { message.hasPrefix($0) }) { return .unavailable(message) }
            return .redis(message)
        }
        return nil
    }
}

extension LeylineDuration {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(seconds: seconds, nanos: Int32(attoseconds / 1_000_000_000))
    }
}

extension OonaStream {
    /// Position in `allCases` (indexes per-stream tables on the publish path without hashing).
    var ordinal: Int {
        switch self {
        case .normal: 0
        case .emergency: 1
        case .telemetry: 2
        case .policy: 3
        case .jobsTraining: 4
        case .jobsCompile: 5
        case .jobsPolicy: 6
        case .jobsRecords: 7
        }
    }
}
