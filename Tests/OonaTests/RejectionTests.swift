import EsperJSON
import EsperTestSupport
import Leyline
import Oona
import Testing

@Suite(.serialized) struct RejectionTests {
    static let secret = "test-secret-of-at-least-32-bytes!!"

    /// Raw entries written straight to Redis, as a broken or hostile producer would.
    func add(_ bus: TestBus, _ fields: [(String, [UInt8])], to stream: OonaStream = .normal) throws {
        var command: [[UInt8]] = [Array("XADD".utf8), Array(bus.keys.key(stream).utf8), Array("*".utf8)]
        for (name, value) in fields { command += [Array(name.utf8), value] }
        _ = try bus.connection().pipeline([command])
    }

    func envelopeBytes(
        _ message: BusMessage, createdAt: LeylineTimestamp = .now(), ttl: LeylineDuration = LeylineDuration(seconds: 60)
    ) throws -> [UInt8] {
        try LeylineCodec.encode(BusEnvelope(message: message, eventId: "e-\(message.messageType.label)", createdAt: createdAt, ttl: ttl))
    }

    /// With signing on, a tampered payload, a signature under another secret and a missing
    /// signature are all dead-lettered, counted, and never reach the handler.
    @Test func tamperedOrWronglySignedEntriesAreDeadLettered() throws {
        let bus = try TestBus { $0.signer = try! LeylineSigner(secret: RejectionTests.secret) }
        let signer = try LeylineSigner(secret: RejectionTests.secret)
        let stranger = try LeylineSigner(secret: "some-other-secret-also-32-bytes-long")
        let bytes = try envelopeBytes(.systemState(Fixtures.systemState))
        var tampered = bytes
        let index = tampered.firstIndex(of: UInt8(ascii: "3"))!  // current_epoch 3 → 4
        tampered[index] = UInt8(ascii: "4")
        try add(bus, [("payload", tampered), ("signature", Array(signer.sign(bytes).utf8)), ("key_id", Array(signer.current.id.utf8))])
        try add(bus, [("payload", bytes), ("signature", Array(stranger.sign(bytes).utf8))])
        try add(bus, [("payload", bytes)])
        try add(bus, [("payload", bytes), ("signature", Array(stranger.sign(bytes).utf8)), ("key_id", Array(stranger.current.id.utf8))])
        // A correctly signed one, through the client, is delivered.
        try bus.client.publishState(Fixtures.systemState)

        let recorder = Recorder()
        let summary = try bus.drain(bus.consumer([.normal])) { recorder.record($0) }
        #expect(recorder.count == 1)
        #expect(summary.deadLettered == 4)
        #expect(try bus.pending(.normal) == 0)
        #expect(
            try bus.deadLetters(.normal).map { $0["reason"] ?? "" } == [
                "signature_invalid", "signature_invalid", "signature_missing", "signature_unknown_key",
            ])
        let snapshot = bus.client.metricsSnapshot()
        #expect(snapshot.signatureRejected == 4)
        #expect(snapshot.deadLettered == 4)
    }

    /// A consumer with another secret than the publisher rejects everything it publishes.
    @Test func wrongSecretRejectsEverything() throws {
        let bus = try TestBus { $0.signer = try! LeylineSigner(secret: RejectionTests.secret) }
        for index in 0..<3 { try bus.client.publishState(statePacket(index)) }
        var configuration = bus.client.configuration
        configuration.signer = try LeylineSigner(secret: "a-different-secret-of-32-bytes-xx")
        let other = try OonaClient(configuration: configuration, endpoint: bus.redis.endpoint, logger: TestBus.quietLogger)
        let recorder = Recorder()
        let summary = try bus.drain(OonaConsumer(client: other, streams: [.normal])) { recorder.record($0) }
        #expect(recorder.count == 0)
        #expect(summary.deadLettered == 3)
        #expect(other.metricsSnapshot().signatureRejected == 3)
        #expect(try bus.pending(.normal) == 0)
        #expect(try bus.deadLetters(.normal).allSatisfy { $0["reason"] == "signature_unknown_key" })
    }

    /// Garbage in an entry — not JSON, the wrong type, no payload, an unsupported version,
    /// an unspecified type outside the job streams, an expired message — is dead-lettered
    /// with a reason, never delivered and never left pending.
    @Test func garbageEntriesAreDeadLetteredWithAReason() throws {
        let bus = try TestBus()
        // Not JSON.
        try add(bus, [("payload", Array("this is not json".utf8))])
        // JSON, but the payload is a telemetry packet while message_type says system state.
        let telemetryBytes = try LeylineCodec.encode(Fixtures.telemetry)
        let wrongType =
            #"{"message_type":"BUS_MESSAGE_TYPE_SYSTEM_STATE","event_id":"e1","created_at":"2099-01-01T00:00:00Z","ttl":"60s","current_attempt":1,"max_attempts":3,"payload":"#
            + String(decoding: telemetryBytes, as: UTF8.self) + "}"
        try add(bus, [("payload", Array(wrongType.utf8))])
        // A JSON array, not an envelope.
        try add(bus, [("payload", Array("[1,2,3]".utf8))])
        // No payload field at all (the reference's bootstrap entry looked like this).
        try add(bus, [("bootstrap", [])])
        // Version 2.
        var future = Fixtures.systemState
        future.version = 2
        try add(bus, [("payload", try envelopeBytes(.systemState(future)))])
        // Unspecified type on the normal stream.
        try add(bus, [("payload", try envelopeBytes(.unspecified(["a": 1])))])
        // Expired: created an hour ago with a one-minute TTL.
        let old = LeylineTimestamp(seconds: LeylineTimestamp.now().seconds - 3600)
        try add(bus, [("payload", try envelopeBytes(.systemState(Fixtures.systemState), createdAt: old))])
        // And one good entry, which must still be delivered.
        try add(bus, [("payload", try envelopeBytes(.fieldReport(Fixtures.fieldReport)))])

        let recorder = Recorder()
        let summary = try bus.drain(bus.consumer([.normal])) { recorder.record($0) }
        #expect(recorder.all.map(\.messageType) == [.fieldReport])
        #expect(summary.deadLettered == 7)
        #expect(try bus.pending(.normal) == 0)
        let letters = try bus.deadLetters(.normal)
        #expect(
            letters.map { $0["reason"] ?? "" } == [
                "malformed_json", "unsupported_version", "invalid", "missing_payload",
                "unsupported_version", "unsupported_message_type", "expired",
            ])
        #expect(letters[0]["original_payload"] == "this is not json")
        #expect(letters[2]["detail"]?.contains("an object") == true)
        #expect(letters.allSatisfy { $0["group"] == "oona-test" && $0["consumer"] == "test-consumer" })
        let snapshot = bus.client.metricsSnapshot()
        #expect(snapshot.versionMismatch == 2)  // the mis-typed one reads as version 0
        #expect(snapshot.expired == 1)
        #expect(bus.prometheusText().contains(#"esper_leyline_version_mismatch_total{message_type="system_state"} 2"#))
    }

    /// Unknown fields on the bus are ignored and counted, the message delivered.
    @Test func unknownFieldsAreIgnoredAndCounted() throws {
        let bus = try TestBus()
        var text = String(decoding: try envelopeBytes(.systemState(Fixtures.systemState)), as: UTF8.self)
        text = text.replacingOccurrences(of: #""packet_id":"#, with: #""from_the_future":{"x":[1,2]},"packet_id":"#)
        try add(bus, [("payload", Array(text.utf8))])
        let recorder = Recorder()
        try bus.drain(bus.consumer([.normal])) { recorder.record($0) }
        #expect(recorder.all.map(\.message) == [.systemState(Fixtures.systemState)])
        #expect(bus.client.metricsSnapshot().unknownFieldsIgnored == 1)
    }
}
