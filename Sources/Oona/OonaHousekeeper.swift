import Foundation
import Leyline
import Logging
import Synchronization

/// A background thread per client: creates the consumer groups (retrying with backoff while
/// Redis is away), samples stream statistics every `statsInterval` for the HTTP API and
/// Prometheus, and sweeps entries older than the TTL every `housekeepingInterval`. It has its
/// own connection, so HTTP handlers only ever read its last results from memory.
final class OonaHousekeeper: Sendable {
    private let configuration: OonaConfiguration
    private let keys: OonaStreamKeys
    private let endpoint: RedisEndpoint
    private let metrics: OonaMetrics
    private let logger: Logger
    private let mode: OonaBusMode
    private let backlogCache: OonaBacklogCache

    private struct State {
        var stats: OonaStreamsReport?
        var groupsReady = false
        var lastError: String?
        var onSample: (@Sendable (OonaStreamsReport) -> Void)?
        var fleet = OonaFleetCounters.empty
        var hysteresis = OonaModeHysteresis()
    }

    private let state = Mutex(State())
    private let thread = BackgroundThread(name: "esper-oona-housekeeper")
    /// The sampling connection: used by the housekeeper thread, or by `sampleNow` under the
    /// same lock, never by two threads at once.
    private let connection = Mutex<ConnectionBox>(ConnectionBox())

    final class ConnectionBox: @unchecked Sendable {
        var connection: RedisConnection?
        var lost = false
    }

    init(
        configuration: OonaConfiguration, keys: OonaStreamKeys, endpoint: RedisEndpoint, metrics: OonaMetrics, logger: Logger,
        mode: OonaBusMode, backlogCache: OonaBacklogCache
    ) {
        self.configuration = configuration
        self.keys = keys
        self.endpoint = endpoint
        self.metrics = metrics
        self.logger = logger
        self.mode = mode
        self.backlogCache = backlogCache
    }

    /// Where the mode and the publishers' counters live.
    var modeKey: String { keys.auxiliaryKey("oona.mode") }
    var publishersKey: String { keys.auxiliaryKey("oona.publishers") }

    var fleet: OonaFleetCounters { state.withLock { $0.fleet } }

    var latestStats: OonaStreamsReport? { state.withLock { $0.stats } }
    var groupsReady: Bool { state.withLock { $0.groupsReady } }
    var lastError: String? { state.withLock { $0.lastError } }

    /// `onSample` runs on the housekeeper thread after every successful sample.
    func start(onSample: (@Sendable (OonaStreamsReport) -> Void)? = nil) {
        guard !thread.isRunning else { return }
        state.withLock { $0.onSample = onSample }
        // First pass inline, so a server that starts with Redis up is ready at once.
        runOnce(sweep: false)
        thread.start { [self] stop in loop(until: stop) }
    }

    func stop() {
        thread.stop()
        connection.withLock { $0.connection = nil }
    }

    func sampleNow() { runOnce(sweep: false) }

    /// The client created the configured group on every stream itself.
    func markGroupsReady() { state.withLock { $0.groupsReady = true } }

    private func loop(until stop: StopSignal) {
        var nextSweep = ContinuousClock.now.advanced(by: configuration.housekeepingInterval)
        var groupBackoff: Duration = .seconds(1)
        var nextGroupAttempt = ContinuousClock.now.advanced(by: groupBackoff)
        while !stop.isStopped {
            let now = ContinuousClock.now
            let sweep = now >= nextSweep
            if sweep { nextSweep = now.advanced(by: configuration.housekeepingInterval) }
            let wantGroups = !groupsReady && now >= nextGroupAttempt
            runOnce(sweep: sweep, groups: wantGroups)
            if let report = state.withLock({ $0.lastError == nil ? $0.stats : nil }), let onSample = state.withLock({ $0.onSample }) {
                onSample(report)
            }
            if wantGroups && !groupsReady {
                // The reference's bootstrap retry: doubling, capped at 30 s (and forever).
                groupBackoff = min(groupBackoff * 2, .seconds(30))
                nextGroupAttempt = ContinuousClock.now.advanced(by: groupBackoff)
            }
            stop.wait(configuration.statsInterval)
        }
    }

    private func runOnce(sweep: Bool, groups: Bool = true) {
        connection.withLock { box in
            do {
                let redis = try open(box)
                if groups && !groupsReady { try createGroups(redis) }
                if sweep { try sweepExpired(redis) }
                let report = try sample(redis)
                state.withLock {
                    $0.stats = report
                    $0.lastError = nil
                }
            } catch {
                if box.connection?.isBroken ?? false {
                    box.connection = nil
                    box.lost = true
                }
                let message = "\(error)"
                state.withLock { state in
                    state.lastError = message
                    state.stats?.error = message
                }
            }
        }
    }

    private func open(_ box: ConnectionBox) throws -> RedisConnection {
        if let connection = box.connection, !connection.isBroken { return connection }
        let connection = try RedisConnection(endpoint: endpoint, timeout: configuration.connectTimeout)
        connection.setTimeout(configuration.commandTimeout)
        box.connection = connection
        if box.lost {
            box.lost = false
            metrics.increment(.reconnects)
        }
        return connection
    }

    private func createGroups(_ redis: RedisConnection) throws {
        let commands = OonaStream.allCases.map { ["XGROUP", "CREATE", keys.key($0), configuration.group, "$", "MKSTREAM"] }
        for (command, reply) in zip(commands, try redis.pipeline(commands)) {
            if case .error(let message) = reply, !message.hasPrefix("BUSYGROUP") {
                throw RedisError("\(command.prefix(4).joined(separator: " ")): \(message)")
            }
        }
        state.withLock { $0.groupsReady = true }
        logger.info("oona consumer groups ready", metadata: ["group": "\(configuration.group)", "streams": "\(OonaStream.allCases.count)"])
    }

    private func sweepExpired(_ redis: RedisConnection) throws {
        let ttl = configuration.messageTTL.components
        let ttlMs = ttl.seconds * 1000 + ttl.attoseconds / 1_000_000_000_000_000
        let now = try serverMilliseconds(redis)
        // Work entries stay until their job is done (a run may train for longer than the TTL).
        let commands = OonaStream.allCases.filter { !$0.isWorkQueue }.map { stream in
            ["XTRIM", keys.key(stream), "MINID", configuration.exactTrimming ? "=" : "~", "\(max(now - ttlMs, 0))-0"]
        }
        let removed = try redis.pipeline(commands).reduce(0) { $0 + Int($1.integer ?? 0) }
        if removed > 0 { logger.info("oona TTL sweep removed expired entries", metadata: ["removed": "\(removed)"]) }
        let finished = try OonaWorkRetention.sweep(redis, keys: keys, exact: configuration.exactTrimming)
        if finished > 0 { logger.debug("oona removed finished work", metadata: ["removed": "\(finished)"]) }
    }

    private func serverMilliseconds(_ redis: RedisConnection) throws -> Int64 {
        let time = try redis.command(["TIME"])
        guard let parts = time.array, parts.count == 2, let seconds = parts[0].text.flatMap({ Int64($0) }),
            let micros = parts[1].text.flatMap({ Int64($0) })
        else { throw RedisError("unexpected TIME reply \(time)") }
        return seconds * 1000 + micros / 1000
    }

    /// Two round trips: lengths and group lists of every stream (and dead-letter lengths),
    /// then the pending summary of every group.
    private func sample(_ redis: RedisConnection) throws -> OonaStreamsReport {
        let now = try serverMilliseconds(redis)
        var commands: [[String]] = []
        for stream in OonaStream.allCases {
            commands.append(["XLEN", keys.key(stream)])
            commands.append(["XINFO", "GROUPS", keys.key(stream)])
            commands.append(["XLEN", keys.deadLetterKey(stream)])
        }
        // This process' counters out, everyone's (and the mode) in, in the same round trip.
        let own = OonaPublisherReport(
            id: configuration.consumerName, pid: getpid(), updatedMs: now,
            counters: Dictionary(uniqueKeysWithValues: OonaFleetCounters.reported.map { ($0.rawValue, metrics.value($0)) }))
        let extra = commands.count
        commands.append(["HSET", publishersKey, own.id, OonaFleetCounters.encode(own)])
        commands.append(["HGETALL", publishersKey])
        commands.append(["GET", modeKey])
        let replies = try redis.pipeline(commands)
        var reports = OonaFleetCounters.decode(replies[extra + 1])
        let forgetMs = Int64(configuration.publisherForgetAfter.components.seconds * 1000)
        let forgotten = reports.filter { now - $0.updatedMs > forgetMs }.map(\.id)
        if !forgotten.isEmpty {
            _ = try redis.command(["HDEL", publishersKey] + forgotten)
            reports.removeAll { forgotten.contains($0.id) }
        }
        let fleet = OonaFleetCounters(reports: reports, nowMs: now)
        metrics.setFleetGauges(fleet)
        state.withLock { $0.fleet = fleet }
        followMode(replies[extra + 2])
        var streams: [OonaStreamStats] = []
        var pendingCommands: [[String]] = []
        var pendingOwners: [(Int, Int)] = []
        for (index, stream) in OonaStream.allCases.enumerated() {
            let groups = OonaHousekeeper.parseGroups(replies[index * 3 + 1])
            for (groupIndex, group) in groups.enumerated() {
                pendingCommands.append(["XPENDING", keys.key(stream), group.name])
                pendingOwners.append((index, groupIndex))
            }
            let length = Int(replies[index * 3].integer ?? 0)
            streams.append(
                OonaStreamStats(
                    stream: stream.label, key: keys.key(stream), length: length,
                    backlog: OonaBacklog.backlog(length: length, groups: groups),
                    pending: groups.reduce(0) { $0 + $1.pending }, consumers: groups.reduce(0) { $0 + $1.consumers },
                    oldestPendingAgeMs: 0, deadLetterKey: keys.deadLetterKey(stream),
                    deadLetterLength: Int(replies[index * 3 + 2].integer ?? 0), groups: groups))
        }
        if !pendingCommands.isEmpty {
            for ((streamIndex, groupIndex), reply) in zip(pendingOwners, try redis.pipeline(pendingCommands)) {
                // [count, smallest id, greatest id, [[consumer, count], ...]]
                guard let parts = reply.array, parts.count >= 2, let oldest = parts[1].text,
                    let milliseconds = Int64(oldest.split(separator: "-").first ?? "")
                else { continue }
                let age = Int(max(0, now - milliseconds))
                streams[streamIndex].groups[groupIndex].oldestPendingAgeMs = age
                streams[streamIndex].oldestPendingAgeMs = max(streams[streamIndex].oldestPendingAgeMs, age)
            }
        }
        for stats in streams {
            if let stream = OonaStream(rawValue: stats.stream) {
                metrics.setStreamGauges(stream: stream, length: stats.length, pending: stats.pending, backlog: stats.backlog)
            }
        }
        let backlog = { (stream: OonaStream) in streams.first { $0.stream == stream.label }?.backlog ?? 0 }
        backlogCache.measured(normal: backlog(.normal), emergency: backlog(.emergency))
        if configuration.conservativeAuto {
            let busBacklog = OonaStream.bus.map(backlog).max() ?? 0
            let change = state.withLock { $0.hysteresis.next(backlog: busBacklog, current: mode.current, configuration: configuration) }
            if let change {
                _ = try redis.command(["SET", modeKey, OonaBusMode.encode(change)])
                mode.adopt(change)
                logger.warning(
                    "oona conservative mode \(change.conservative ? "on" : "off") (automatic)", metadata: ["reason": "\(change.reason)"])
            }
        }
        metrics.setModeGauge(mode.isConservative)
        return OonaStreamsReport(streams: streams, sampledAt: LeylineTimestamp(nanosecondsSinceEpoch: now * 1_000_000), error: nil)
    }

    /// Adopts the mode stored in Redis (none stored: off).
    private func followMode(_ reply: RedisReply) {
        let stored = OonaBusMode.decode(reply) ?? .initial
        if mode.adopt(stored) {
            logger.notice(
                "oona conservative mode \(stored.conservative ? "on" : "off")",
                metadata: ["reason": "\(stored.reason)", "source": "\(stored.source.rawValue)"])
        }
    }

    /// `XINFO GROUPS` reply: one flat field/value list per group. A missing stream is an
    /// error reply: no groups.
    static func parseGroups(_ reply: RedisReply) -> [OonaGroupStats] {
        guard let groups = reply.array else { return [] }
        return groups.compactMap { group -> OonaGroupStats? in
            guard let items = group.array else { return nil }
            var fields: [String: RedisReply] = [:]
            var index = 0
            while index + 1 < items.count {
                if let name = items[index].text { fields[name] = items[index + 1] }
                index += 2
            }
            guard let name = fields["name"]?.text else { return nil }
            return OonaGroupStats(
                name: name, consumers: Int(fields["consumers"]?.integer ?? 0),
                pending: Int(fields["pending"]?.integer ?? 0),
                lastDeliveredId: fields["last-delivered-id"]?.text ?? "0-0",
                lag: fields["lag"]?.integer.map(Int.init), oldestPendingAgeMs: 0)
        }
    }
}
