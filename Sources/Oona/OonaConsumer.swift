import Foundation
import Leyline
import Logging

/// Reads streams through a consumer group with its own blocking connection (one consumer
/// per thread; it is not shared). Each `poll`:
///
/// 1. after a start or a reconnect, re-reads this consumer's own pending entries (ID 0)
///    before anything new — they were delivered but never acknowledged;
/// 2. every `claimInterval`, claims entries other consumers left idle longer than
///    `claimMinIdle` (`XAUTOCLAIM`) — the way entries of a dead consumer are retried;
/// 3. reads new entries (`>`), emergency first: while the emergency stream keeps a full batch
///    coming, only it is read; when nothing is waiting anywhere it blocks on all streams.
///
/// Every entry is checked before a handler sees it: signature (when signing is on), size,
/// JSON, contract, version, TTL and delivery count. One that fails any check is moved to
/// `<stream>.dlq` with the reason and acknowledged — never handed over, never left pending.
/// Handled entries are acknowledged after the handler returns; a handler that throws leaves
/// its entry pending for a retry.
public final class OonaConsumer {
    public let client: OonaClient
    public let group: String
    public let name: String
    /// In priority order: emergency first.
    public let streams: [OonaStream]
    private let logger: Logger
    private var connection: RedisConnection?
    private var lostConnection = false
    private var pendingRecovered = false
    private var nextClaim = ContinuousClock.now
    private static let maxClaimRounds = 10
    /// Called after an entry was moved to the dead-letter stream (and before it is
    /// acknowledged), with its original fields: job queues use it to fail the job's run.
    public var onDeadLetter: ((_ stream: OonaStream, _ entry: StreamEntry, _ reason: DeadLetterReason, _ detail: String) -> Void)?
    /// At most this many entries claimed per `XAUTOCLAIM` round (nil: the poll's `count`).
    /// Workers that hold one job at a time claim one.
    public var claimCount: Int?

    public init(client: OonaClient, streams: [OonaStream], group: String? = nil, name: String? = nil) {
        self.client = client
        self.group = group ?? client.configuration.group
        self.name = name ?? client.configuration.consumerName
        var ordered = streams.filter { $0 == .emergency }
        for stream in streams where stream != .emergency && !ordered.contains(stream) { ordered.append(stream) }
        self.streams = ordered
        logger = client.logger
    }

    /// Closes the connection (a stopped consumer's pending entries are reclaimed by others).
    public func close() {
        connection = nil
    }

    // MARK: loop

    /// Polls until `shouldContinue` says stop. Transient failures back off (`OonaBackoff`);
    /// the loop never throws. `pause` waits between a failure and the next poll (default: a
    /// sleep that checks `shouldContinue`; `OonaSubscription` wakes on its stop signal) and
    /// `report` hears each poll's outcome (nil: success).
    public func run(
        count: Int = 10, block: Duration = .seconds(1), linger: Duration = .zero, while shouldContinue: () -> Bool,
        pause: ((Duration) -> Void)? = nil, report: (OonaError?) -> Void = { _ in },
        handler: (OonaDelivery) throws -> Void
    ) {
        var backoff = OonaBackoff()
        while shouldContinue() {
            do {
                let summary = try poll(count: count, block: block, handler: handler)
                backoff.reset()
                report(nil)
                // A read that found some but fewer than `count`: let the next ones gather
                // (one read and one acknowledgement for many, not two round trips each).
                let read = summary.delivered + summary.deadLettered
                if linger > .zero && read > 0 && read < count && shouldContinue() {
                    if let pause { pause(linger) } else { OonaConsumer.sleep(linger, while: shouldContinue) }
                }
            } catch {
                report(error)
                let wait = backoff.delay(after: error)
                if case .circuitOpen = error {
                } else {
                    logger.warning(
                        "oona consumer poll failed; backing off",
                        metadata: [
                            "consumer": "\(name)", "error": "\(error)",
                            "backoff_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                        ])
                }
                if let pause { pause(wait) } else { OonaConsumer.sleep(wait, while: shouldContinue) }
            }
        }
    }

    static func sleep(_ duration: Duration, while shouldContinue: () -> Bool) {
        var slept: Duration = .zero
        while slept < duration && shouldContinue() {
            let step = min(.milliseconds(20), duration - slept)
            usleep(UInt32(step.components.seconds) * 1_000_000 + UInt32(step.components.attoseconds / 1_000_000_000_000))
            slept += step
        }
    }

    // MARK: one poll

    /// One round (see the type's documentation). Throws `circuitOpen` while the consume
    /// breaker is open and `unavailable` when Redis cannot be reached.
    @discardableResult
    public func poll(
        count: Int = 10, block: Duration = .seconds(1), handler: (OonaDelivery) throws -> Void
    ) throws(OonaError) -> OonaPollSummary {
        let breaker = client.consumeBreaker
        try breaker.acquire()
        var summary = OonaPollSummary()
        do throws(ConsumerFailure) {
            let redis = try connect()
            if !pendingRecovered {
                try recoverPending(redis, count: count, handler: handler, summary: &summary)
                pendingRecovered = true
            }
            if ContinuousClock.now >= nextClaim {
                try reclaim(redis, count: count, handler: handler, summary: &summary)
                nextClaim = ContinuousClock.now.advanced(by: client.configuration.claimInterval)
            }
            try readNew(redis, count: count, block: block, handler: handler, summary: &summary)
        } catch {
            switch error {
            case .connection(let error):
                connection = nil
                lostConnection = true
                pendingRecovered = false
                breaker.recordFailure()
                throw .unavailable(error.description)
            case .reply(let error):
                if error.isTransient { breaker.recordFailure() } else { breaker.recordSuccess() }
                throw error
            }
        }
        breaker.recordSuccess()
        return summary
    }

    private enum ConsumerFailure: Error {
        case connection(RedisError)
        case reply(OonaError)
    }

    private func connect() throws(ConsumerFailure) -> RedisConnection {
        if let connection, !connection.isBroken { return connection }
        let configuration = client.configuration
        do {
            let redis = try RedisConnection(endpoint: client.endpoint, timeout: configuration.connectTimeout)
            redis.setTimeout(configuration.commandTimeout)
            connection = redis
            if lostConnection {
                lostConnection = false
                client.metrics.increment(.reconnects)
            }
            return redis
        } catch {
            throw .connection(error)
        }
    }

    private func run(_ redis: RedisConnection, _ arguments: [String]) throws(ConsumerFailure) -> RedisReply {
        let reply: RedisReply
        do {
            reply = try redis.command(arguments)
        } catch {
            throw .connection(error)
        }
        if let failure = OonaClient.failure(in: [reply]) { throw .reply(failure) }
        return reply
    }

    private func pipeline(_ redis: RedisConnection, _ commands: [[[UInt8]]]) throws(ConsumerFailure) -> [RedisReply] {
        do {
            return try redis.pipeline(commands)
        } catch {
            throw .connection(error)
        }
    }

    /// XREADGROUP that recreates the group when Redis lost it (a restart without its data):
    /// from `0`, so entries written since are still delivered.
    private func readGroup(_ redis: RedisConnection, _ arguments: [String]) throws(ConsumerFailure) -> RedisReply {
        do {
            return try run(redis, arguments)
        } catch .reply(.redis(let message)) where message.hasPrefix("NOGROUP") {
            logger.warning("oona consumer group missing; recreating it", metadata: ["group": "\(group)", "error": "\(message)"])
            for stream in streams {
                _ = try run(redis, ["XGROUP", "CREATE", client.keys.key(stream), group, "0", "MKSTREAM"])
            }
            return try run(redis, arguments)
        }
    }

    private func recoverPending(
        _ redis: RedisConnection, count: Int, handler: (OonaDelivery) throws -> Void,
        summary: inout OonaPollSummary
    ) throws(ConsumerFailure) {
        for stream in streams {
            var start = "0"
            while true {
                let reply = try readGroup(
                    redis, ["XREADGROUP", "GROUP", group, name, "COUNT", "\(count)", "STREAMS", client.keys.key(stream), start])
                let entries = StreamEntry.parseRead(reply).first?.entries ?? []
                guard let last = entries.last else { break }
                let counts = try deliveryCounts(redis, stream, entries)
                try process(redis, stream, entries, counts: counts, handler: handler, summary: &summary)
                start = last.id
            }
        }
    }

    private func reclaim(
        _ redis: RedisConnection, count: Int, handler: (OonaDelivery) throws -> Void,
        summary: inout OonaPollSummary
    ) throws(ConsumerFailure) {
        let idle = client.configuration.claimMinIdle.components
        let idleMs = idle.seconds * 1000 + idle.attoseconds / 1_000_000_000_000_000
        for stream in streams {
            var cursor = "0-0"
            for _ in 0..<OonaConsumer.maxClaimRounds {
                let reply = try run(
                    redis, ["XAUTOCLAIM", client.keys.key(stream), group, name, "\(idleMs)", cursor, "COUNT", "\(claimCount ?? count)"])
                guard let parts = reply.array, parts.count >= 2 else { break }
                var entries: [StreamEntry] = []
                for item in parts[1].array ?? [] {
                    if let entry = StreamEntry(item) {
                        entries.append(entry)
                    } else if let pair = item.array, let id = pair.first?.text {
                        entries.append(StreamEntry(id: id, fields: [:]))  // Redis 6.2: deleted entries come back as nil
                    }
                }
                if !entries.isEmpty {
                    client.metrics.increment(.reclaimed, by: entries.count)
                    summary.reclaimed += entries.count
                    logger.info(
                        "oona reclaimed idle entries",
                        metadata: ["stream": "\(stream)", "count": "\(entries.count)", "consumer": "\(name)"])
                    let counts = try deliveryCounts(redis, stream, entries)
                    try process(redis, stream, entries, counts: counts, handler: handler, summary: &summary)
                }
                cursor = parts[0].text ?? "0-0"
                if cursor == "0-0" { break }
            }
        }
    }

    private func readNew(
        _ redis: RedisConnection, count: Int, block: Duration, handler: (OonaDelivery) throws -> Void,
        summary: inout OonaPollSummary
    ) throws(ConsumerFailure) {
        // The emergency stream alone first: a full batch from it means there may be more, and
        // then nothing else is read this round.
        let others = streams.filter { $0 != .emergency }
        if streams.contains(.emergency) {
            let reply = try readGroup(redis, readCommand([.emergency], count: count, block: nil))
            let entries = StreamEntry.parseRead(reply).first?.entries ?? []
            if !entries.isEmpty {
                try process(redis, .emergency, entries, counts: nil, handler: handler, summary: &summary)
                if entries.count >= count || others.isEmpty { return }
            }
        }
        var batches: [(key: String, entries: [StreamEntry])] = []
        if !others.isEmpty {
            batches = StreamEntry.parseRead(try readGroup(redis, readCommand(others, count: count, block: nil)))
        }
        if batches.allSatisfy({ $0.entries.isEmpty }) && summary.delivered == 0 && summary.deadLettered == 0 {
            guard block > .zero else { return }
            // Nothing waiting anywhere: block on every stream, with a socket timeout longer
            // than the BLOCK so the wait cannot be mistaken for a dead connection.
            redis.setTimeout(block + client.configuration.commandTimeout)
            defer { redis.setTimeout(client.configuration.commandTimeout) }
            batches = StreamEntry.parseRead(try readGroup(redis, readCommand(streams, count: count, block: block)))
        }
        for stream in streams {
            let key = client.keys.key(stream)
            guard let batch = batches.first(where: { $0.key == key }), !batch.entries.isEmpty else { continue }
            try process(redis, stream, batch.entries, counts: nil, handler: handler, summary: &summary)
        }
    }

    private func readCommand(_ targets: [OonaStream], count: Int, block: Duration?) -> [String] {
        var command = ["XREADGROUP", "GROUP", group, name, "COUNT", "\(count)"]
        if let block {
            let (seconds, attoseconds) = block.components
            command += ["BLOCK", "\(max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000))"]
        }
        command.append("STREAMS")
        command += targets.map { client.keys.key($0) }
        command += targets.map { _ in ">" }
        return command
    }

    /// Delivery counts of entries this consumer now owns (re-read or claimed ones).
    private func deliveryCounts(
        _ redis: RedisConnection, _ stream: OonaStream, _ entries: [StreamEntry]
    ) throws(ConsumerFailure) -> [String: Int] {
        guard let first = entries.first?.id, let last = entries.last?.id else { return [:] }
        let reply = try run(redis, ["XPENDING", client.keys.key(stream), group, first, last, "\(entries.count * 2 + 10)", name])
        var counts: [String: Int] = [:]
        for item in reply.array ?? [] {
            guard let parts = item.array, parts.count >= 4, let id = parts[0].text, let deliveries = parts[3].integer else { continue }
            counts[id] = Int(deliveries)
        }
        return counts
    }

    // MARK: entries

    private enum Verdict {
        case deliver(OonaDelivery)
        case reject(DeadLetterReason, String)
    }

    private func inspect(_ stream: OonaStream, _ entry: StreamEntry, deliveries: Int) -> Verdict {
        let configuration = client.configuration
        if deliveries > configuration.maxAttempts {
            return .reject(.maxAttemptsExceeded, "delivered \(deliveries) times; the limit is \(configuration.maxAttempts)")
        }
        guard let payload = entry.fields["payload"] else { return .reject(.missingPayload, "the entry has no payload field") }
        let limit = SystemLimits.standard.maxEnvelopeBytes
        if payload.count > limit { return .reject(.tooLarge, "\(payload.count) bytes; the limit is \(limit)") }
        if let signer = configuration.signer {
            let signature = entry.fields["signature"].map { String(decoding: $0, as: UTF8.self) }
            let keyId = entry.fields["key_id"].map { String(decoding: $0, as: UTF8.self) }
            if let rejection = signer.verify(payload, signature: signature, keyId: keyId) {
                client.metrics.increment(.signatureRejected)
                let reason: DeadLetterReason =
                    switch rejection {
                    case .missingSignature: .signatureMissing
                    case .unknownKey: .signatureUnknownKey
                    case .mismatch: .signatureInvalid
                    }
                return .reject(reason, "signature check failed: \(rejection.rawValue)")
            }
        }
        var ignored: [String] = []
        let envelope: BusEnvelope
        do {
            envelope = try LeylineCodec.decode(BusEnvelope.self, from: payload, strict: false) { ignored = $0 }
        } catch {
            switch error {
            case .tooLarge: return .reject(.tooLarge, error.description)
            case .malformed: return .reject(.malformedJSON, error.description)
            case .unsupportedVersion:
                let type = (try? LeylineCodec.parse(BusEnvelope.self, from: payload))?.value.messageType ?? .unspecified
                client.metrics.versionMismatch(type)
                return .reject(.unsupportedVersion, error.description)
            case .unknownFields, .invalid: return .reject(.invalid, error.description)
            }
        }
        if !ignored.isEmpty {
            client.metrics.increment(.unknownFieldsIgnored)
            logger.debug("oona message carries unknown fields", metadata: ["fields": "\(ignored.joined(separator: ","))"])
        }
        if envelope.messageType == .unspecified && !stream.isJobQueue {
            return .reject(.unsupportedMessageType, "BUS_MESSAGE_TYPE_UNSPECIFIED is only accepted on job streams")
        }
        if envelope.expiresAt < LeylineTimestamp.now() {
            client.metrics.increment(.expired)
            return .reject(.expired, "created \(envelope.createdAt), ttl \(envelope.ttl)")
        }
        return .deliver(OonaDelivery(stream: stream, entryId: entry.id, envelope: envelope, deliveryCount: deliveries))
    }

    private func process(
        _ redis: RedisConnection, _ stream: OonaStream, _ entries: [StreamEntry], counts: [String: Int]?,
        handler: (OonaDelivery) throws -> Void, summary: inout OonaPollSummary
    ) throws(ConsumerFailure) {
        var acknowledged: [String] = []
        var trimmed: [String] = []
        var rejected: [(entry: StreamEntry, reason: DeadLetterReason, detail: String, deliveries: Int)] = []
        for entry in entries {
            if entry.isDeleted {
                // Trimmed (TTL sweep or MAXLEN) while it was pending: nothing left to deliver.
                trimmed.append(entry.id)
                continue
            }
            let deliveries = counts?[entry.id] ?? 1
            switch inspect(stream, entry, deliveries: deliveries) {
            case .reject(let reason, let detail):
                rejected.append((entry, reason, detail, deliveries))
            case .deliver(let delivery):
                client.metrics.increment(.consumed)
                client.metrics.recordDelivery(.nanoseconds(LeylineTimestamp.now().nanoseconds - delivery.envelope.createdAt.nanoseconds))
                summary.delivered += 1
                do {
                    try handler(delivery)
                    acknowledged.append(entry.id)
                } catch let rejection as OonaRejection {
                    rejected.append((entry, rejection.reason, rejection.detail, deliveries))
                } catch {
                    client.metrics.increment(.handlerFailed)
                    summary.failed += 1
                    logger.warning(
                        "oona handler failed; the entry stays pending for a retry",
                        metadata: ["stream": "\(stream)", "id": "\(entry.id)", "deliveries": "\(deliveries)", "error": "\(error)"])
                }
            }
        }
        // Dead letters first, and acknowledged only once written: an entry is never lost
        // between the two.
        var deadLettered: [String] = []
        if !rejected.isEmpty {
            let commands = rejected.map { deadLetterCommand(stream, $0.entry, $0.reason, $0.detail, $0.deliveries) }
            for (item, reply) in zip(rejected, try pipeline(redis, commands)) {
                if case .error(let message) = reply {
                    logger.error(
                        "oona could not dead-letter an entry; it stays pending",
                        metadata: ["id": "\(item.entry.id)", "error": "\(message)"])
                    continue
                }
                deadLettered.append(item.entry.id)
                client.metrics.deadLettered(reason: item.reason, stream: stream)
                onDeadLetter?(stream, item.entry, item.reason, item.detail)
                logger.warning(
                    "oona dead-lettered an entry",
                    metadata: [
                        "stream": "\(stream)", "id": "\(item.entry.id)",
                        "reason": "\(item.reason.rawValue)", "detail": "\(item.detail)",
                    ])
            }
        }
        let toAcknowledge = acknowledged + deadLettered + trimmed
        if !toAcknowledge.isEmpty {
            _ = try run(redis, ["XACK", client.keys.key(stream), group] + toAcknowledge)
        }
        client.metrics.increment(.acked, by: acknowledged.count)
        summary.acknowledged += acknowledged.count
        summary.deadLettered += deadLettered.count
    }

    private func deadLetterCommand(
        _ stream: OonaStream, _ entry: StreamEntry, _ reason: DeadLetterReason, _ detail: String,
        _ deliveries: Int
    ) -> [[UInt8]] {
        var fields: [(String, [UInt8])] = [
            ("reason", Array(reason.rawValue.utf8)),
            ("detail", Array(String(detail.prefix(500)).utf8)),
            ("source_stream", Array(client.keys.key(stream).utf8)),
            ("source_id", Array(entry.id.utf8)),
            ("group", Array(group.utf8)),
            ("consumer", Array(name.utf8)),
            ("deliveries", Array(String(deliveries).utf8)),
            ("dead_lettered_at", Array(LeylineTimestamp.now().rfc3339.utf8)),
        ]
        // The original fields travel along (payload, signature, key id, anything else).
        for key in entry.fields.keys.sorted() { fields.append(("original_" + key, entry.fields[key]!)) }
        var command: [[UInt8]] = [Array("XADD".utf8), Array(client.keys.deadLetterKey(stream).utf8)]
        if let maxLength = client.configuration.maxStreamLength {
            command += [Array("MAXLEN".utf8), Array("~".utf8), Array(String(maxLength).utf8)]
        }
        command.append(Array("*".utf8))
        for (name, value) in fields {
            command.append(Array(name.utf8))
            command.append(value)
        }
        return command
    }
}

extension LeylineTimestamp {
    /// Nanoseconds since the epoch (saturating; for latency arithmetic).
    var nanoseconds: Int64 { seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue &+ Int64(nanos) }
}
