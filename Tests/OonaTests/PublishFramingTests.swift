import EsperJSON
import EsperTestSupport
import Leyline
import Oona
import Testing

/// The publish path frames entries itself (RESP straight from the encoder's and the signer's
/// buffers): what it writes must be, field by field and byte for byte, what the reference
/// encoding gives — `payload` = `LeylineCodec.encode(envelope)`, `signature` =
/// `signatureBytes(payload)`, `key_id` — read back with XRANGE.
@Suite(.serialized) struct PublishFramingTests {
    static let secret = "publish-framing-secret-of-32-bytes"

    /// Every entry of a stream as (id, [(field, value)]) in stored order.
    static func entries(_ bus: TestBus, _ stream: OonaStream) throws -> [(id: String, fields: [(String, [UInt8])])] {
        let reply = try bus.connection().command(["XRANGE", bus.keys.key(stream), "-", "+"])
        return (reply.array ?? []).map { entry in
            let items = entry.array?[1].array ?? []
            var fields: [(String, [UInt8])] = []
            for index in stride(from: 0, to: items.count - 1, by: 2) {
                guard case .string(let value) = items[index + 1] else { continue }
                fields.append((items[index].text ?? "", value))
            }
            return (entry.array?[0].text ?? "", fields)
        }
    }

    /// Checks one stored entry against its outcome, the message published and the reference
    /// encoding; returns the decoded envelope.
    @discardableResult
    static func expectReferenceEntry(
        _ entry: (id: String, fields: [(String, [UInt8])]), outcome: PublishOutcome, message: BusMessage, signer: LeylineSigner?
    ) throws -> BusEnvelope {
        guard case .published(_, let entryId, let eventId, _) = outcome else {
            Issue.record("not published: \(outcome)")
            throw HandlerCrash()
        }
        #expect(entry.id == entryId)
        let names = entry.fields.map(\.0)
        #expect(names == (signer == nil ? ["payload"] : ["payload", "signature", "key_id"]))
        let payload = entry.fields[0].1
        let envelope = try LeylineCodec.decode(BusEnvelope.self, from: payload)
        #expect(envelope.eventId == eventId)
        #expect(envelope.message == message)
        #expect(try LeylineCodec.encode(envelope) == payload, "payload is the reference encoding, byte for byte")
        if let signer, entry.fields.count == 3 {
            #expect(entry.fields[1].1 == signer.signatureBytes(payload))
            #expect(String(decoding: entry.fields[1].1, as: UTF8.self) == signer.sign(payload))
            #expect(signer.verify(payload, signature: signer.sign(payload), keyId: signer.current.id) == nil)
            #expect(entry.fields[2].1 == Array(signer.current.id.utf8))
        }
        return envelope
    }

    /// Messages of every type and size, several round trips (depth 3), some single publishes:
    /// each stored entry equals the reference encoding and signature.
    @Test func signedEntriesAreTheReferenceEncodingByteForByte() throws {
        let signer = try LeylineSigner(secret: PublishFramingTests.secret)
        let bus = try TestBus { $0.signer = signer }
        var messages: [BusMessage] = []
        for index in 0..<7 {
            messages += Fixtures.allMessages
            var packet = statePacket(index)
            packet.seedStates = Array(Fixtures.eightSeeds.seedStates.prefix(index + 2))
            messages.append(.systemState(packet))
            var telemetry = Fixtures.telemetry
            telemetry.packetId = "telemetry-\(index)"
            // Sizes across RESP length widths, and text the JSON writer must escape.
            telemetry.events = [
                TelemetryEvent(description: "seed_operation", attributes: ["note": String(repeating: "é\"\\\n", count: index * 40)])
            ]
            messages.append(.telemetry(telemetry))
        }
        let outcomes = try bus.client.publish(batch: messages.map { ($0, PublishOptions()) }, depth: 3)
        var singles: [(BusMessage, PublishOutcome)] = []
        for message in Fixtures.allMessages { singles.append((message, try bus.client.publish(message))) }
        let all = zip(messages, outcomes).map { ($0, $1) } + singles
        #expect(all.allSatisfy { $0.1.wasPublished })

        var checked = 0
        for stream in [OonaStream.normal, .telemetry, .policy] {
            let stored = try PublishFramingTests.entries(bus, stream)
            let published = all.filter { $0.1.stream == stream }
            #expect(stored.count == published.count, "\(stream)")
            for (entry, (message, outcome)) in zip(stored, published) {
                try PublishFramingTests.expectReferenceEntry(entry, outcome: outcome, message: message, signer: signer)
                checked += 1
            }
        }
        #expect(checked == all.count)
    }

    /// One round trip of entries of very different sizes — far more bytes than the framing
    /// buffer's reserve (1 KB an entry), 600 entries — is written whole and in order, the
    /// backlog reads after it (routing checks on): every entry the reference encoding; then the
    /// same batch in small round trips.
    @Test func largeRoundTripsOfMixedSizesAreWrittenWhole() throws {
        let signer = try LeylineSigner(secret: PublishFramingTests.secret)
        let bus = try TestBus { config in
            config.signer = signer
            config.maxStreamLength = 10_000
            config.emergencyThreshold = 9_000
            config.backpressureDropThreshold = 10_000
        }
        var messages: [BusMessage] = []
        for index in 0..<600 {
            if index % 10 == 9 {
                var telemetry = Fixtures.telemetry
                telemetry.packetId = "large-\(index)"
                telemetry.events = [
                    TelemetryEvent(description: "blob", attributes: ["blob": String(repeating: "x\"", count: 20_000 + index)])
                ]
                messages.append(.telemetry(telemetry))
            } else if index % 2 == 0 {
                var packet = statePacket(index)
                packet.seedStates = (0..<(index % 100)).map { Fixtures.eightSeeds.seedStates[$0 % 8] }
                messages.append(.systemState(packet))
            } else {
                var telemetry = Fixtures.telemetry
                telemetry.packetId = "small-\(index)"
                messages.append(.telemetry(telemetry))
            }
        }
        for depth in [600, 7] {
            let outcomes = try bus.client.publish(batch: messages.map { ($0, PublishOptions()) }, depth: depth)
            #expect(outcomes.allSatisfy { $0.wasPublished })
            for stream in [OonaStream.normal, .telemetry] {
                let stored = try PublishFramingTests.entries(bus, stream)
                let published = zip(messages, outcomes).filter { $0.1.stream == stream }
                #expect(stored.count == published.count, "\(stream), depth \(depth)")
                for (entry, (message, outcome)) in zip(stored, published) {
                    try PublishFramingTests.expectReferenceEntry(entry, outcome: outcome, message: message, signer: signer)
                }
                _ = try bus.connection().command(["XTRIM", bus.keys.key(stream), "MAXLEN", "0"])
            }
        }
    }

    /// Without a signer an entry is the payload alone.
    @Test func unsignedEntriesCarryOnlyThePayload() throws {
        let bus = try TestBus()
        let outcomes = try bus.client.publish(batch: Fixtures.allMessages.map { ($0, PublishOptions()) }, depth: 2)
        let normal = try PublishFramingTests.entries(bus, .normal)
        let published = zip(Fixtures.allMessages, outcomes).filter { $0.1.stream == .normal }
        #expect(normal.count == 3 && published.count == 3)
        for (entry, (message, outcome)) in zip(normal, published) {
            try PublishFramingTests.expectReferenceEntry(entry, outcome: outcome, message: message, signer: nil)
        }
    }

    /// Each stream's XADD goes to that stream's key, with its trimming (per-stream framing
    /// computed once): bus streams by length, job-queue streams never (their entries are work).
    @Test func everyStreamReceivesItsOwnEntries() throws {
        let signer = try LeylineSigner(secret: PublishFramingTests.secret)
        let bus = try TestBus { config in
            config.signer = signer
            config.maxStreamLength = 3
            config.emergencyThreshold = nil
            config.backpressureDropThreshold = nil
        }
        let job = try JanssonEncoder().encodeValue(Fixtures.blueprint)
        var batch: [(BusMessage, PublishOptions)] = []
        for (count, stream) in OonaStream.allCases.enumerated() {
            for _ in 0...count {
                let message: BusMessage = stream.isJobQueue ? .unspecified(job) : .telemetry(Fixtures.telemetry)
                batch.append((message, PublishOptions(stream: stream)))
            }
        }
        let outcomes = try bus.client.publish(batch: batch, depth: 4)
        for (count, stream) in OonaStream.allCases.enumerated() {
            let written = outcomes.filter { $0.stream == stream && $0.wasPublished }.count
            #expect(written == count + 1, "\(stream)")
            let kept = stream.isJobQueue ? count + 1 : min(count + 1, 3)
            #expect(try bus.length(stream) == kept, "\(stream): MAXLEN = 3 (exact) unless a job queue")
            let stored = try PublishFramingTests.entries(bus, stream)
            #expect(stored.count == kept)
            let expected = zip(batch, outcomes).filter { $0.1.stream == stream }.suffix(kept)
            for (entry, ((message, _), outcome)) in zip(stored, expected) {
                try PublishFramingTests.expectReferenceEntry(entry, outcome: outcome, message: message, signer: signer)
            }
        }
    }

    /// A value the direct writer cannot carry (a uint64 above 2^63-1) takes the reference
    /// encoder: published as that encoder writes it, or rejected as it refuses it — the rest
    /// of the batch is published either way.
    @Test func valuesOnlyTheReferenceEncoderWritesKeepItsVerdict() throws {
        let signer = try LeylineSigner(secret: PublishFramingTests.secret)
        let bus = try TestBus { $0.signer = signer }
        var huge = statePacket(1)
        huge.globalStep = UInt64.max
        let batch: [BusMessage] = [.systemState(statePacket(0)), .systemState(huge), .systemState(statePacket(2))]
        let outcomes = try bus.client.publish(batch: batch.map { ($0, PublishOptions()) }, depth: 2)
        let reference = Result { try LeylineCodec.encode(Fixtures.envelope(.systemState(huge))) }
        let stored = try PublishFramingTests.entries(bus, .normal)
        switch reference {
        case .success:
            #expect(outcomes.allSatisfy { $0.wasPublished })
            #expect(stored.count == 3)
        case .failure:
            guard case .rejected(.invalidMessage) = outcomes[1] else {
                Issue.record("expected a rejection, got \(outcomes[1])")
                return
            }
            #expect(outcomes[0].wasPublished && outcomes[2].wasPublished)
            #expect(stored.count == 2)
        }
        for (entry, (message, outcome)) in zip(stored, zip(batch, outcomes).filter { $0.1.wasPublished }) {
            try PublishFramingTests.expectReferenceEntry(entry, outcome: outcome, message: message, signer: signer)
        }
    }

    /// A job published with commands (a run's control) is one MULTI/EXEC: one round trip,
    /// the entry framed and signed as every publish frames it, the commands applied with it;
    /// a command Redis refuses while queueing aborts the whole transaction.
    @Test func aJobAndItsCommandsAreOneTransaction() throws {
        let signer = try LeylineSigner(secret: PublishFramingTests.secret)
        let bus = try TestBus { $0.signer = signer }
        let message = BusMessage.unspecified(.object(["kind": .string("training"), "job": .object(["run_id": .string("r1")])]))
        let options = PublishOptions(stream: .jobsTraining, attributes: ["run_id": "r1"], source: "workers")
        let control = "esper:{bus}:runs.control"
        let id = try bus.client.publish(message, options: options, after: [["HSET", control, "r1", "run"]])

        let stored = try Self.entries(bus, .jobsTraining)
        #expect(stored.map(\.id) == [id])
        #expect(stored.first?.fields.map(\.0) == ["payload", "signature", "key_id"])
        let payload = try #require(stored.first?.fields.first?.1)
        let envelope = try LeylineCodec.decode(BusEnvelope.self, from: payload)
        #expect(envelope.message == message && envelope.attributes["run_id"] == "r1")
        #expect(try LeylineCodec.encode(envelope) == payload, "payload is the reference encoding, byte for byte")
        #expect(stored.first?.fields[1].1 == signer.signatureBytes(payload))
        #expect(try bus.connection().command(["HGET", control, "r1"]).text == "run")
        #expect(try redisCommandCalls("multi", on: bus.client) == 1 && redisCommandCalls("exec", on: bus.client) == 1)
        // A consumer takes it like any job (the signature checks).
        var delivered: [OonaDelivery] = []
        try bus.drain(bus.consumer([.jobsTraining])) { delivered.append($0) }
        #expect(delivered.map(\.entryId) == [id] && delivered.first?.message == message)

        // Refused while queueing (wrong arity): EXECABORT, nothing of it applied.
        #expect(throws: OonaError.self) {
            try bus.client.publish(message, options: options, after: [["HSET", control, "r2", "run"], ["HSET", control]])
        }
        #expect(try bus.length(.jobsTraining) == 1)
        #expect(try bus.connection().command(["HGET", control, "r2"]).isNull)
        // Only to a job stream: elsewhere routing and backpressure decide where an entry goes.
        #expect(throws: OonaError.self) { try bus.client.publish(.systemState(statePacket(1)), options: PublishOptions(), after: []) }
        #expect(try bus.length(.normal) == 0)
    }

    /// Announcements go in the job's transaction, before it (a run's `queued` status can
    /// never be overtaken by a worker's `running`): both entries or neither. Only to streams
    /// written as they are: an announcement that backpressure could reroute or drop, or that
    /// conservative mode could sample, is refused before anything is sent.
    @Test func announcementsGoInTheJobsTransactionBeforeTheJob() throws {
        let bus = try TestBus()
        let job = BusMessage.unspecified(.object(["kind": .string("training"), "job": .object(["run_id": .string("r1")])]))
        let options = PublishOptions(stream: .jobsTraining, attributes: ["run_id": "r1"], source: "workers")
        let control = "esper:{bus}:runs.control"
        let queued = TelemetryPacket.build(
            packetId: "r1-status-queued", source: "tolaria", level: .info, metrics: [],
            events: [TelemetryEvent(description: "run_status", level: .info, attributes: ["run_id": "r1", "status": "queued"])])
        let id = try bus.client.publish(
            job, options: options, after: [["HSET", control, "r1", "run"]], announcing: [(.telemetry(queued), PublishOptions())])

        let announced = try Self.entries(bus, .telemetry)
        #expect(announced.count == 1)
        let envelope = try LeylineCodec.decode(BusEnvelope.self, from: try #require(announced.first?.fields.first?.1))
        #expect(envelope.message == .telemetry(queued))
        #expect(try Self.entries(bus, .jobsTraining).map(\.id) == [id])
        #expect(try redisCommandCalls("multi", on: bus.client) == 1 && redisCommandCalls("xadd", on: bus.client) == 2)

        // A transaction refused while queueing applies neither.
        #expect(throws: OonaError.self) {
            try bus.client.publish(
                job, options: options, after: [["HSET", control]], announcing: [(.telemetry(queued), PublishOptions())])
        }
        #expect(try bus.length(.telemetry) == 1 && bus.length(.jobsTraining) == 1)

        // Refused before anything is sent: a state packet (normal stream, backpressure routing),
        // telemetry detail (sampled in conservative mode), an emergency message.
        let detail = TelemetryPacket.build(
            packetId: "detail", source: "tolaria", level: .info, metrics: [MetricPoint(name: "tolaria.epoch.loss", value: 1, unit: "")])
        for (announcement, announcementOptions) in [
            (BusMessage.systemState(statePacket(1)), PublishOptions()), (.telemetry(detail), PublishOptions()),
            (.telemetry(queued), PublishOptions(emergency: true)),
        ] {
            #expect(throws: OonaError.self) {
                try bus.client.publish(job, options: options, after: [], announcing: [(announcement, announcementOptions)])
            }
        }
        #expect(try bus.length(.normal) == 0 && bus.length(.emergency) == 0)
        #expect(try bus.length(.telemetry) == 1 && bus.length(.jobsTraining) == 1)
        #expect(try redisCommandCalls("multi", on: bus.client) == 2)
    }
}
