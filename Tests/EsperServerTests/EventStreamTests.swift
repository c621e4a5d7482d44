import EsperServer
import EsperTestSupport
import Foundation
import Leyline
import Oona
import Testing

/// Server-Sent Events through the real server: libmicrohttpd streaming responses, the hub
/// reading a real redis-server, events produced by real runs, Kasmina/Tolaria/Nissa
/// publishers, or bus messages published with the server's own Oona client.
@Suite(.serialized) struct EventStreamTests {
    static let fiveEpochs = #"{"dataset": {"kind": "two_moons", "samples": 200}, "epochs": 5, "learning_rate": 0.01}"#
    static let fromStart = "0-0,0-0,0-0"

    /// Reads events until `done` says stop (or the stream stalls).
    static func collect(_ client: SSEClient, until done: ([SSEMessage]) -> Bool) -> [SSEMessage] {
        var events: [SSEMessage] = []
        while !done(events), let event = client.nextEvent() { events.append(event) }
        return events
    }

    static func epochs(_ events: [SSEMessage]) -> [Int] {
        events.filter { $0.event == "epoch" }.compactMap { ($0.json?["epoch"] as? NSNumber)?.intValue }
    }

    static func statePacket(run: String, epoch: Int) -> SystemStatePacket {
        SystemStatePacket(
            currentEpoch: UInt32(epoch), validationAccuracy: 0.5, validationLoss: 1, timestampNs: 1, packetId: "\(run)-epoch-\(epoch)",
            globalStep: UInt64(epoch), trainingLoss: 1, sourceSubsystem: "tolaria", trainingRunId: run)
    }

    static func seedTransition(run: String, index: Int) -> TelemetryPacket {
        TelemetryPacket.build(
            packetId: "kasmina-test-\(run)-\(index)", source: "kasmina", level: .info, metrics: [],
            events: [
                TelemetryEvent(
                    description: "seed_transition", level: .info,
                    attributes: ["run_id": run, "seed_id": "seed-\(index)", "from": "A", "to": "B", "epoch": String(index)])
            ])
    }

    @Test func aClientReceivesEveryEpochOfARunInOrder() throws {
        let server = try ServerHarness()
        // Live from before the run exists (the all-runs stream) ...
        let live = try SSEClient(port: server.port, path: "/api/v1/events?types=epoch,run")
        #expect(live.status == 200)
        #expect(live.headers["content-type"]?.hasPrefix("text/event-stream") == true)
        #expect(live.next()?.comments.contains("connected") == true)
        let id = try #require(try server.object("POST", "/api/v1/runs", json: Self.fiveEpochs)["id"] as? String)
        // Run statuses (telemetry stream) and epochs (normal stream) are not ordered against
        // each other (docs/events.md), so "succeeded" may come before the last epoch: wait for
        // both. Missing or repeated epochs still fail below.
        let finished: ([SSEMessage]) -> Bool = { events in
            events.contains {
                $0.event == "run" && $0.json?["status"] as? String == "succeeded" && $0.json?["kind"] as? String == "run_status"
            } && events.filter { $0.event == "epoch" && $0.json?["run_id"] as? String == id }.count >= 5
        }
        let liveEvents = Self.collect(live, until: finished).filter { $0.json?["run_id"] as? String == id }
        #expect(Self.epochs(liveEvents) == [0, 1, 2, 3, 4])
        #expect(liveEvents.filter { $0.event == "run" }.compactMap { $0.json?["status"] as? String }.prefix(2) == ["queued", "running"])

        // ... and the run's own stream, replayed from the start of the streams.
        let replay = try SSEClient(port: server.port, path: "/api/v1/runs/\(id)/events?last_event_id=\(Self.fromStart)")
        #expect(replay.status == 200)
        let replayed = Self.collect(replay, until: finished)
        #expect(Self.epochs(replayed) == [0, 1, 2, 3, 4])
        #expect(replayed.allSatisfy { $0.json?["run_id"] as? String == id })
        // Every id is a cursor, and they never go backwards.
        let epochIds = replayed.filter { $0.event == "epoch" }.compactMap(\.id)
        #expect(epochIds.count == 5 && Set(epochIds).count == 5)
        #expect(replayed.first { $0.event == "epoch" }?.json?["validation_loss"] is NSNumber)
    }

    @Test func reconnectingWithLastEventIdResumesWithoutGapOrDuplicate() throws {
        let server = try ServerHarness()
        let bus = server.application.bus
        let run = "resume-run"
        // Events from two streams, interleaved: state packets (normal) and seed changes (telemetry).
        func publish(_ range: Range<Int>) throws {
            for index in range {
                try bus.publishState(Self.statePacket(run: run, epoch: index))
                try bus.publishTelemetry(Self.seedTransition(run: run, index: index))
            }
        }
        let first = try SSEClient(port: server.port, path: "/api/v1/events?types=epoch,seed")
        #expect(first.next()?.comments.contains("connected") == true)
        try publish(0..<10)
        var seen: [String] = []
        var lastId = ""
        for _ in 0..<7 {
            let event = try #require(first.nextEvent())
            seen.append("\(event.event ?? "")-\(event.json?["epoch"] as? NSNumber ?? -1)")
            lastId = try #require(event.id)
        }
        first.disconnect()
        try publish(10..<20)  // while nobody listens

        let second = try SSEClient(port: server.port, path: "/api/v1/events?types=epoch,seed", headers: ["Last-Event-ID": lastId])
        #expect(second.status == 200)
        let rest = Self.collect(second) { $0.count >= 33 }
        seen += rest.map { "\($0.event ?? "")-\($0.json?["epoch"] as? NSNumber ?? -1)" }
        var expected: [String] = []
        for index in 0..<20 { expected += ["epoch-\(index)", "seed-\(index)"] }
        // Per stream in publish order, nothing missing, nothing twice.
        #expect(seen.filter { $0.hasPrefix("epoch") } == expected.filter { $0.hasPrefix("epoch") })
        #expect(seen.filter { $0.hasPrefix("seed") } == expected.filter { $0.hasPrefix("seed") })
        #expect(seen.count == 40)
        // Then live: a new event follows the replay.
        try publish(20..<21)
        let next = Self.collect(second) { $0.count >= 2 }
        #expect(Set(next.compactMap { $0.json?["epoch"] as? NSNumber }.map(\.intValue)) == [20])
    }

    @Test func aSlowClientIsDroppedWhileAnotherKeepsReceiving() throws {
        let server = try ServerHarness(environment: ["ESPER_SSE_CLIENT_BUFFER_BYTES": "65536"])
        let bus = server.application.bus
        // Never reads a byte after the response head, with a fixed receive window (no
        // autotuning; not below the loopback MSS, or the kernel would trickle the backlog
        // through zero-window probes once it reads).
        let slow = try SSEClient(port: server.port, path: "/api/v1/events?types=epoch", receiveBuffer: 131_072)
        #expect(slow.status == 200)
        let fast = try SSEClient(port: server.port, path: "/api/v1/events?types=epoch")
        #expect(fast.next()?.comments.contains("connected") == true)
        var received: [Int] = []
        let batches = 100
        // Lock-step batches of 20 (a burst well inside the buffer): the fast client reads each
        // batch before the next is published; the slow one only accumulates (~600 bytes each).
        for batch in 0..<batches {
            let packets = (0..<20).map {
                (BusMessage.systemState(Self.statePacket(run: "flood", epoch: batch * 20 + $0)), PublishOptions())
            }
            _ = try bus.publish(batch: packets)
            received += Self.epochs(Self.collect(fast) { $0.count >= 20 })
        }
        let batch = batches
        #expect(received == Array(0..<(batch * 20)))
        #expect(server.application.events.droppedCount == 1)
        // The dropped client gets what was already in flight, then the connection ends.
        let got = slow.drain(seconds: 20)
        #expect(slow.closed)
        #expect(got.count < batch * 20)
        #expect(try server.get("/metrics").text.contains("esper_sse_dropped_total 1"))
        // The fast client is still subscribed and live.
        _ = try bus.publish(Self.statePacket(run: "flood", epoch: 99_999).asMessage)
        #expect(Self.epochs(Self.collect(fast) { $0.count >= 1 }) == [99_999])
    }

    @Test func heartbeatsArriveAndAlertsStream() throws {
        let server = try ServerHarness(environment: ["ESPER_SSE_HEARTBEAT_S": "1"])
        let client = try SSEClient(port: server.port, path: "/api/v1/events?types=alert")
        var sawHeartbeat = false
        while !sawHeartbeat, let message = client.next() { sawHeartbeat = message.comments.contains("heartbeat") }
        #expect(sawHeartbeat)
        // A drill fires and clears an alert through Nissa's real path; the changes reach SSE.
        let drill = try server.request("POST", "/api/v1/nissa/drills/training_latency_high?hold_s=0", json: "")
        #expect(drill.status == 200)
        let alerts = Self.collect(client) { $0.count >= 2 }
        #expect(alerts.map(\.event) == ["alert", "alert"])
        #expect(alerts.compactMap { $0.json?["state"] as? String } == ["firing", "resolved"])
        #expect(alerts.first?.json?["attributes"].flatMap { ($0 as? [String: Any])?["rule"] as? String } == "training_latency_high")
    }

    @Test func badRequestsAreRefusedWithProblems() throws {
        // Heartbeats every second: a suspended stream notices its client left at the next one.
        let server = try ServerHarness(environment: ["ESPER_SSE_MAX_SUBSCRIBERS": "1", "ESPER_SSE_HEARTBEAT_S": "1"])
        let unknown = try server.get("/api/v1/runs/00000000-0000-4000-8000-000000000000/events")
        #expect(unknown.status == 404)
        #expect(unknown.header("content-type") == "application/problem+json")
        let badTypes = try server.get("/api/v1/events?types=epoch,nonsense,alerts")
        #expect(badTypes.status == 400)
        #expect(badTypes.text.contains("'nonsense', 'alerts' are not event types"))
        let badCursor = try SSEClient(port: server.port, path: "/api/v1/events", headers: ["Last-Event-ID": "yesterday"])
        #expect(badCursor.status == 400)
        #expect(String(decoding: badCursor.body, as: UTF8.self).contains("Last-Event-ID"))
        let emptyCursor = try server.get("/api/v1/events?last_event_id=")
        #expect(emptyCursor.status == 400)
        #expect(emptyCursor.text.contains("\"field\":\"last_event_id\""))
        let badParameter = try server.get("/api/v1/events?type=epoch")
        #expect(badParameter.status == 400)
        #expect(badParameter.text.contains("\"field\":\"type\""))

        let first = try SSEClient(port: server.port, path: "/api/v1/events")
        #expect(first.status == 200)
        let second = try SSEClient(port: server.port, path: "/api/v1/events")
        #expect(second.status == 503)
        #expect(second.headers["retry-after"] == "5")
        // Leaving frees the place.
        first.disconnect()
        #expect(eventually(within: 10) { server.application.events.subscriberCount == 0 })
        let third = try SSEClient(port: server.port, path: "/api/v1/events")
        #expect(third.status == 200)
    }

    @Test func protectedReadsNeedTheTokenToStream() throws {
        let token = "sse-test-token-0123456789"
        let server = try ServerHarness(environment: ["ESPER_API_TOKEN": token, "ESPER_API_PROTECT_READS": "on"])
        let anonymous = try SSEClient(port: server.port, path: "/api/v1/events")
        #expect(anonymous.status == 401)
        let wrong = try SSEClient(port: server.port, path: "/api/v1/events", headers: ["Authorization": "Bearer not-the-token-at-all"])
        #expect(wrong.status == 403)
        let allowed = try SSEClient(port: server.port, path: "/api/v1/events", headers: ["Authorization": "Bearer \(token)"])
        #expect(allowed.status == 200)
        #expect(allowed.next()?.comments.contains("connected") == true)
    }

    @Test func aCursorOlderThanTheStreamsRetainSaysSo() throws {
        let server = try ServerHarness(environment: [
            "OONA_MAX_STREAM_LENGTH": "10", "OONA_EMERGENCY_THRESHOLD": "0", "OONA_DROP_THRESHOLD": "0",
        ])
        for epoch in 0..<400 { try server.application.bus.publishState(Self.statePacket(run: "old", epoch: epoch)) }
        let client = try SSEClient(port: server.port, path: "/api/v1/events?types=epoch", headers: ["Last-Event-ID": Self.fromStart])
        let gap = try #require(client.nextEvent())
        #expect(gap.event == "gap")
        #expect((gap.json?["detail"] as? String)?.contains("trimmed") == true)
        // Then what the stream still holds, in order, and the live events after it.
        try server.application.bus.publishState(Self.statePacket(run: "old", epoch: 1000))
        let rest = Self.epochs(Self.collect(client) { Self.epochs($0).last == 1000 })
        #expect(rest.count >= 11 && rest.count < 401)
        #expect(rest.suffix(2) == [399, 1000])
        #expect(rest == rest.sorted())
    }
}

extension SystemStatePacket {
    fileprivate var asMessage: BusMessage { .systemState(self) }
}
