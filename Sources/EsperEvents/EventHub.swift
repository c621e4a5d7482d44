// EsperEvents: Server-Sent Events of runs, seeds, commands and alerts — a hub that tails the
// Oona streams (XREAD, no consumer group: every server sees every event) and fans each event
// out to the subscribed HTTP event streams, with exact resumption from a Last-Event-ID.
public import EsperHTTP
import EsperJSON
import Foundation
import Leyline
public import Logging
public import Oona
public import Prometheus
import Synchronization

/// Limits of the hub.
public struct EventHubOptions: Sendable {
    /// Subscribers at most; one more gets 503.
    public var maxSubscribers = 256
    /// A comment line this often to every subscriber (keeps proxies and clients from timing
    /// out an idle stream, and finds dead connections).
    public var heartbeat: Duration = .seconds(15)
    /// Bytes buffered per subscriber before it is dropped as too slow.
    public var clientBufferBytes = 256 * 1024
    /// Longest XREAD block (also the longest a new subscriber's backfill waits to start).
    public var block: Duration = .milliseconds(250)
    /// Entries per stream per XRANGE page of a backfill.
    public var backfillPage = 200
    /// How often the hub follows the streams' ends while nobody is subscribed (also the
    /// longest a first subscriber waits for its live feed to start; it misses nothing).
    public var idlePause: Duration = .milliseconds(20)

    public init() {}
}

public enum EventHubError: Error, Sendable, Equatable {
    case full(limit: Int)
    case stopped
}

/// Reads the event streams on its own Redis connection and thread, and fans out. Every
/// event's SSE `id:` is the hub's `EventCursor` after the entry that produced it, so a client
/// that reconnects with it as `Last-Event-ID` gets exactly what came after: the hub replays
/// the streams from the cursor with XRANGE (paced by the client's buffer) and then switches
/// the client to the live feed — both on the hub's thread, so nothing falls between the
/// replay and the live events and nothing arrives twice.
public final class EventHub: LongRunningService {
    public let options: EventHubOptions
    private let bus: OonaClient
    private let logger: Logger
    private let state = Mutex(State())
    private let thread = BackgroundThread(name: "esper-event-hub")
    private let subscribersGauge: Gauge?
    private let framesSent: Counter?
    private let dropped: Counter?
    private let gaps: Counter?
    private let skipped: Counter?

    private struct Subscriber: Sendable {
        let stream: EventStream
        let runId: String?
        let types: Set<EventType>
        /// nil: live; else where its replay has got to.
        var replayFrom: EventCursor?
        var checked = false

        func wants(_ event: HubEvent) -> Bool {
            types.contains(event.type) && (runId == nil || event.runId == runId)
        }
    }

    private struct State: Sendable {
        var subscribers: [Int: Subscriber] = [:]
        var nextId = 0
        /// The last entry read from each stream (nil until Redis first answered).
        var position: EventCursor?
        /// Taking subscribers (from `start` to `stop`).
        var running = false
        var lastError: String?
        var droppedTotal = 0
    }

    public init(bus: OonaClient, options: EventHubOptions, registry: PrometheusCollectorRegistry?, logger: Logger) {
        self.bus = bus
        self.options = options
        self.logger = logger
        func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        subscribersGauge = registry?.makeGauge(descriptor: descriptor("esper_sse_subscribers", "Open Server-Sent Events streams."))
        framesSent = registry?.makeCounter(descriptor: descriptor("esper_sse_events_total", "Events written to SSE subscribers."))
        dropped = registry?.makeCounter(
            descriptor: descriptor("esper_sse_dropped_total", "SSE subscribers dropped because their buffer overflowed (slow clients)."))
        gaps = registry?.makeCounter(
            descriptor: descriptor("esper_sse_gaps_total", "Resumptions whose Last-Event-ID was older than the streams' retention."))
        skipped = registry?.makeCounter(
            descriptor: descriptor(
                "esper_sse_skipped_entries_total",
                "Bus entries the event hub skipped: a failed signature check, or not a decodable envelope."))
    }

    // MARK: lifecycle

    public func start() {
        let start = state.withLock { s -> Bool in
            guard !s.running else { return false }
            s.running = true
            return true
        }
        guard start else { return }
        // Find the streams' ends now when Redis answers, so what is published after the
        // server has started reaches the clients that subscribe at once.
        if let connection = try? RedisConnection(endpoint: bus.endpoint, timeout: .seconds(2)), let ends = try? streamEnds(connection) {
            state.withLock { $0.position = ends }
        }
        thread.start { [self] stop in loop(until: stop) }
    }

    /// Stops reading (within one XREAD block) and ends every stream.
    public func stop() {
        let streams = state.withLock { s -> [EventStream] in
            s.running = false
            return s.subscribers.values.map(\.stream)
        }
        for stream in streams { stream.finish() }
        thread.stop()
        state.withLock { $0.subscribers = [:] }
        subscribersGauge?.set(Int64(0))
    }

    public var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    public var droppedCount: Int { state.withLock { $0.droppedTotal } }
    /// The hub's position in the streams (nil before Redis first answered).
    public var position: EventCursor? { state.withLock { $0.position } }

    /// For `/healthz`.
    public var health: ServiceHealth {
        let (count, error, position) = state.withLock { ($0.subscribers.count, $0.lastError, $0.position) }
        if let error { return ServiceHealth(healthy: false, detail: "event hub: \(error)") }
        if position == nil { return ServiceHealth(healthy: true, detail: "event hub: waiting for Redis; \(count) subscriber(s)") }
        return ServiceHealth(healthy: true, detail: "\(count) subscriber(s)")
    }

    public var name: String { "events" }

    // MARK: subscribing

    /// Adds a subscriber: live from now, or replayed from `cursor` (exclusive) first. Events
    /// of `runId` only when given; of `types` only.
    public func subscribe(_ stream: EventStream, runId: String?, types: Set<EventType>, after cursor: EventCursor?) throws(EventHubError) {
        let id = try state.withLock { s throws(EventHubError) -> Int in
            guard s.running else { throw .stopped }
            guard s.subscribers.count < options.maxSubscribers else { throw .full(limit: options.maxSubscribers) }
            let id = s.nextId
            s.nextId += 1
            s.subscribers[id] = Subscriber(stream: stream, runId: runId, types: types, replayFrom: cursor)
            // The reconnection delay browsers use, and a first line so the client knows the
            // subscription is in place.
            stream.write(Array("retry: 2000\n: connected\n\n".utf8))
            subscribersGauge?.set(Int64(s.subscribers.count))
            return id
        }
        stream.onClose { [weak self] in self?.remove(id) }
    }

    private func remove(_ id: Int) {
        state.withLock { s in
            s.subscribers[id] = nil
            subscribersGauge?.set(Int64(s.subscribers.count))
        }
    }

    /// Forgets a subscriber whose write failed; counts it when it was dropped for overflow.
    private func forget(_ id: Int, _ subscriber: Subscriber, in s: inout State) {
        s.subscribers[id] = nil
        subscribersGauge?.set(Int64(s.subscribers.count))
        if subscriber.stream.wasDropped {
            s.droppedTotal += 1
            dropped?.increment()
            logger.warning("dropped a slow SSE client (buffer over \(options.clientBufferBytes) bytes)")
        }
    }

    // MARK: the reading thread

    private func loop(until stop: StopSignal) {
        var redis: RedisConnection?
        var backoff: Duration = .milliseconds(100)
        var nextHeartbeat = ContinuousClock.now.advanced(by: options.heartbeat)
        while !stop.isStopped {
            do throws(RedisError) {
                if redis == nil {
                    redis = try RedisConnection(endpoint: bus.endpoint, timeout: options.block + .seconds(5))
                }
                guard let connection = redis else { continue }
                if state.withLock({ $0.position }) == nil {
                    let ends = try streamEnds(connection)
                    state.withLock { $0.position = ends }
                }
                let replaying = try replay(connection)
                if ContinuousClock.now >= nextHeartbeat {
                    heartbeat()
                    nextHeartbeat = ContinuousClock.now.advanced(by: options.heartbeat)
                }
                if state.withLock({ $0.subscribers.isEmpty }) {
                    // Nobody listens: follow the streams' ends only (three entries a round,
                    // whatever the bus carries), not every entry — reading and parsing each
                    // one cost a run create a tenth of its CPU in the hub and in Redis. A
                    // subscriber that comes meanwhile is live from that position: what was
                    // published since (at most one pause) reaches it too, nothing is missed.
                    let ends = try streamEnds(connection)
                    state.withLock { s in
                        if s.subscribers.isEmpty { s.position = ends }
                        s.lastError = nil
                    }
                    backoff = .milliseconds(100)
                    stop.wait(options.idlePause)
                    continue
                }
                try readLive(connection, block: replaying ? .milliseconds(20) : options.block)
                state.withLock { $0.lastError = nil }
                backoff = .milliseconds(100)
            } catch {
                redis = nil
                state.withLock { $0.lastError = error.description }
                logger.warning("event hub lost Redis; retrying", metadata: ["error": "\(error)"])
                stop.wait(backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func key(_ stream: OonaStream) -> String { bus.keys.key(stream) }

    /// The id of the newest entry of each stream (0-0 for an empty or missing stream).
    private func streamEnds(_ connection: RedisConnection) throws(RedisError) -> EventCursor {
        let replies = try connection.pipeline(EventCursor.streams.map { ["XREVRANGE", key($0), "+", "-", "COUNT", "1"] })
        var cursor = EventCursor.start
        for (index, reply) in replies.enumerated() {
            if case .error(let message) = reply { throw RedisError("XREVRANGE: \(message)") }
            if let first = reply.array?.first?.array?.first?.text, let id = StreamEntryID(first) { cursor.positions[index] = id }
        }
        return cursor
    }

    private func heartbeat() {
        let frame = Array(": heartbeat\n\n".utf8)
        state.withLock { s in
            for (id, subscriber) in s.subscribers where !subscriber.stream.write(frame) { forget(id, subscriber, in: &s) }
        }
    }

    /// One entry read from a stream.
    private struct Entry {
        let stream: OonaStream
        let id: StreamEntryID
        let payload: [UInt8]?
        let signature: String?
        let keyId: String?
    }

    /// Parses `[[id, [field, value, ...]], ...]`.
    private func entries(_ reply: RedisReply, of stream: OonaStream) -> [Entry] {
        (reply.array ?? []).compactMap { item -> Entry? in
            guard let pair = item.array, pair.count == 2, let text = pair[0].text, let id = StreamEntryID(text) else { return nil }
            var payload: [UInt8]?
            var signature: String?
            var keyId: String?
            let fields = pair[1].array ?? []
            var index = 0
            while index + 1 < fields.count {
                if case .string(let name) = fields[index], case .string(let value) = fields[index + 1] {
                    switch String(decoding: name, as: UTF8.self) {
                    case "payload" where payload == nil: payload = value
                    case "signature" where signature == nil: signature = String(decoding: value, as: UTF8.self)
                    case "key_id" where keyId == nil: keyId = String(decoding: value, as: UTF8.self)
                    default: break
                    }
                }
                index += 2
            }
            return Entry(stream: stream, id: id, payload: payload, signature: signature, keyId: keyId)
        }
    }

    /// The events of one entry: nothing for an entry that fails the signature check or does
    /// not decode (the consumers dead-letter those; here they are skipped, counted and logged,
    /// so a subscriber's missing event can be traced to its entry).
    private func events(of entry: Entry) -> [HubEvent] {
        func skip(_ reason: String) -> [HubEvent] {
            skipped?.increment()
            logger.warning(
                "event hub skipped a bus entry", metadata: ["stream": "\(entry.stream)", "entry": "\(entry.id)", "reason": "\(reason)"])
            return []
        }
        guard let payload = entry.payload else { return skip("no payload field") }
        guard payload.count <= SystemLimits.standard.maxEnvelopeBytes else { return skip("payload of \(payload.count) bytes") }
        if let signer = bus.configuration.signer, let failure = signer.verify(payload, signature: entry.signature, keyId: entry.keyId) {
            return skip("signature: \(failure)")
        }
        do {
            return BusEventTranslator.events(
                from: try LeylineCodec.decode(BusEnvelope.self, from: payload, strict: false, ignoredFields: { _ in }).message)
        } catch {
            return skip("undecodable: \(error) in \(String(decoding: payload.prefix(2048), as: UTF8.self))")
        }
    }

    private static func frame(_ event: HubEvent, id: EventCursor) -> [UInt8] {
        var bytes = Array("id: \(id)\nevent: \(event.type.rawValue)\ndata: ".utf8)
        bytes.reserveCapacity(bytes.count + event.data.count + 2)
        bytes += event.data
        bytes += [10, 10]
        return bytes
    }

    /// Entries of several streams in one order: by id, ties by stream order. Any order that
    /// keeps each stream's own order gives correct cursors; this one is close to publish order.
    private static func merged(_ batches: [[Entry]]) -> [Entry] {
        batches.flatMap { $0 }.sorted {
            $0.id != $1.id
                ? $0.id < $1.id
                : EventCursor.streams.firstIndex(of: $0.stream)! < EventCursor.streams.firstIndex(of: $1.stream)!
        }
    }

    /// Reads what is new after the hub's position and fans it out to the live subscribers.
    private func readLive(_ connection: RedisConnection, block: Duration) throws(RedisError) {
        guard let position = state.withLock({ $0.position }) else { return }
        let milliseconds = max(1, Int(block.components.seconds * 1000 + block.components.attoseconds / 1_000_000_000_000_000))
        let reply = try connection.command(
            ["XREAD", "COUNT", "100", "BLOCK", String(milliseconds), "STREAMS"] + EventCursor.streams.map(key)
                + position.positions.map(\.description))
        if case .error(let message) = reply { throw RedisError("XREAD: \(message)") }
        guard let streams = reply.array else { return }  // nil reply: the block timed out
        var batches: [[Entry]] = []
        for item in streams {
            guard let parts = item.array, parts.count == 2, let name = parts[0].text,
                let stream = EventCursor.streams.first(where: { key($0) == name })
            else { continue }
            batches.append(entries(parts[1], of: stream))
        }
        var cursor = position
        let entries = EventHub.merged(batches)
        for entry in entries { cursor[entry.stream] = entry.id }
        // Everybody left during the read: the entries are only passed (no decoding for no
        // one). A subscriber that came meanwhile waits for the next read, as one that came a
        // moment later would.
        let passed = state.withLock { s in
            guard s.subscribers.isEmpty else { return false }
            s.position = cursor
            return true
        }
        if passed { return }
        cursor = position
        var frames: [(HubEvent, [UInt8])] = []
        for entry in entries {
            cursor[entry.stream] = entry.id
            for event in events(of: entry) { frames.append((event, EventHub.frame(event, id: cursor))) }
        }
        var sent = 0
        state.withLock { s in
            for (event, frame) in frames {
                for (id, subscriber) in s.subscribers where subscriber.replayFrom == nil && subscriber.wants(event) {
                    if subscriber.stream.write(frame) { sent += 1 } else { forget(id, subscriber, in: &s) }
                }
            }
            s.position = cursor
        }
        if sent > 0 { framesSent?.increment(by: Int64(sent)) }
    }

    /// One page of replay for every subscriber that is catching up and has room in its
    /// buffer; a subscriber that reaches the hub's position goes live. True while some
    /// subscriber is still replaying.
    private func replay(_ connection: RedisConnection) throws(RedisError) -> Bool {
        let (pending, target) = state.withLock { s in
            (s.subscribers.filter { $0.value.replayFrom != nil }, s.position)
        }
        guard let target, !pending.isEmpty else { return false }
        var still = false
        for (id, subscriber) in pending {
            guard subscriber.stream.bufferedBytes < options.clientBufferBytes / 2 else {
                still = true
                continue
            }
            var cursor = subscriber.replayFrom!
            if !subscriber.checked, let gap = try gapReason(from: cursor, to: target, connection) {
                // Said once; the replay then goes on with what the streams still hold (a
                // cursor ahead of the streams restarts from the hub's position).
                gaps?.increment()
                for index in cursor.positions.indices where cursor.positions[index] > target.positions[index] {
                    cursor.positions[index] = target.positions[index]
                }
                let data = (try? JSONValue.object(["detail": .string(gap)]).serialized()) ?? Array("{}".utf8)
                var frame = Array("id: \(cursor)\nevent: gap\ndata: ".utf8) + data
                frame += [10, 10]
                _ = subscriber.stream.write(frame)
            }
            do {
                var batches: [[Entry]] = []
                var complete = Array(repeating: true, count: EventCursor.streams.count)
                for (index, stream) in EventCursor.streams.enumerated() where cursor.positions[index] < target.positions[index] {
                    let reply = try connection.command([
                        "XRANGE", key(stream), "(\(cursor.positions[index])", target.positions[index].description, "COUNT",
                        String(options.backfillPage),
                    ])
                    if case .error(let message) = reply { throw RedisError("XRANGE: \(message)") }
                    batches.append(entries(reply, of: stream))
                    // A full page: there may be more up to the target.
                    complete[index] = batches.last!.count < options.backfillPage
                }
                var open = true
                var sent = 0
                for entry in EventHub.merged(batches) where open {
                    cursor[entry.stream] = entry.id
                    for event in events(of: entry) where subscriber.wants(event) {
                        if subscriber.stream.write(EventHub.frame(event, id: cursor)) {
                            sent += 1
                        } else {
                            open = false
                            break
                        }
                    }
                }
                if sent > 0 { framesSent?.increment(by: Int64(sent)) }
                // Nothing else up to the target in the streams that returned less than a page.
                for index in complete.indices where complete[index] { cursor.positions[index] = target.positions[index] }
                if !open {
                    state.withLock { s in if s.subscribers[id] != nil { forget(id, subscriber, in: &s) } }
                    continue
                }
            }
            let live = state.withLock { s -> Bool in
                guard s.subscribers[id] != nil else { return true }
                let caughtUp = cursor == s.position
                s.subscribers[id]!.replayFrom = caughtUp ? nil : cursor
                s.subscribers[id]!.checked = true
                return caughtUp
            }
            if !live { still = true }
        }
        return still
    }

    /// Why a replay from `cursor` cannot be exact, or nil when it can: the cursor is ahead of
    /// the streams (another Redis, or a reset), or entries after it are gone — trimmed (the
    /// message TTL and MAXLEN remove the oldest entries: some were removed and the cursor is
    /// before the first one left) or deleted (`max-deleted-entry-id`). Redis 7 reports both.
    private func gapReason(from cursor: EventCursor, to target: EventCursor, _ connection: RedisConnection) throws(RedisError) -> String? {
        for (index, stream) in EventCursor.streams.enumerated() {
            let position = cursor.positions[index]
            if position > target.positions[index] {
                return "Last-Event-ID is ahead of stream \(stream) (at \(target.positions[index])); continuing from there"
            }
            guard position < target.positions[index] else { continue }
            let reply = try connection.command(["XINFO", "STREAM", key(stream)])
            guard let fields = reply.array else { continue }  // missing stream: nothing lost
            var info: [String: RedisReply] = [:]
            var field = 0
            while field + 1 < fields.count {
                if let name = fields[field].text { info[name] = fields[field + 1] }
                field += 2
            }
            if let text = info["max-deleted-entry-id"]?.text, let deleted = StreamEntryID(text), position < deleted {
                return "entries of stream \(stream) after Last-Event-ID were deleted (up to \(deleted)); the rest follows"
            }
            let length = info["length"]?.integer ?? 0
            let added = info["entries-added"]?.integer ?? length
            let first = (info["recorded-first-entry-id"]?.text).flatMap { StreamEntryID($0) }
            if added > length, let first, position < first {
                return "Last-Event-ID is older than what stream \(stream) retains (entries before \(first) were trimmed); the rest follows"
            }
        }
        return nil
    }
}
