import EsperTestSupport
import Foundation
import Leyline
import Oona
import Synchronization
import Testing

/// Backpressure acts on backlog (what consuming groups have not handled yet), never on the
/// consumed history a stream keeps; conservative mode sheds telemetry detail only; every
/// publisher's counters reach the fleet view. All against a real redis-server.
@Suite(.serialized) struct BacklogTests {
    /// A small-threshold bus: reroute at 50, drop at 100, streams trimmed to about 200.
    static func smallThresholds(_ config: inout OonaConfiguration) {
        config.emergencyThreshold = 50
        config.backpressureDropThreshold = 100
        config.maxStreamLength = 200
        config.exactTrimming = false
        config.backlogRefreshPublishes = 16
        config.conservativeOnBacklog = nil
    }

    @Test func backlogCountsConsumingGroupsOnly() {
        func group(_ name: String, consumers: Int, pending: Int, lag: Int?) -> OonaGroupStats {
            OonaGroupStats(name: name, consumers: consumers, pending: pending, lastDeliveredId: "0-0", lag: lag, oldestPendingAgeMs: 0)
        }
        // No group: the whole stream waits.
        #expect(OonaBacklog.backlog(length: 10, groups: []) == 10)
        // A group nobody reads with (the bootstrap group) does not count next to a consuming one.
        #expect(
            OonaBacklog.backlog(
                length: 9000,
                groups: [group("esper", consumers: 0, pending: 0, lag: 9000), group("nissa", consumers: 1, pending: 3, lag: 4)])
                == 7)
        // The slowest consuming group; lag unknown (trimmed under it): the length bounds it.
        #expect(
            OonaBacklog.backlog(
                length: 200, groups: [group("a", consumers: 1, pending: 0, lag: 2), group("b", consumers: 2, pending: 10, lag: nil)])
                == 200)
        // Pending entries whose data was trimmed are no work any more.
        #expect(OonaBacklog.backlog(length: 5, groups: [group("a", consumers: 1, pending: 100, lag: 0)]) == 5)
    }

    /// 20 000 epochs through reroute 50 / drop 100 while a consumer keeps up: nothing is
    /// rerouted or dropped although the streams' history is far above both thresholds, and
    /// the consumer sees every epoch exactly once.
    @Test func aConsumerThatKeepsUpNeverCausesReroutesOrDrops() throws {
        let bus = try TestBus { config in
            BacklogTests.smallThresholds(&config)
            config.backlogRefreshPublishes = 8
        }
        // A group nobody ever reads with (like the server's bootstrap group) is no pressure.
        _ = try bus.connection().command(["XGROUP", "CREATE", bus.keys.key(.normal), "bootstrap", "$"])
        let total = 20_000
        let seen = Mutex<[Int: Int]>([:])
        let acked = Atomic<Int>(0)
        let stop = Atomic<Bool>(false)
        let consumer = Unchecked(bus.consumer([.normal, .emergency], name: "keeps-up"))
        let thread = Thread {
            while !stop.load(ordering: .acquiring) {
                _ = try? consumer.value.poll(count: 100, block: .milliseconds(20)) { delivery in
                    guard case .systemState(let packet) = delivery.message else { return }
                    seen.withLock { $0[Int(packet.currentEpoch), default: 0] += 1 }
                    acked.add(1, ordering: .releasing)
                }
            }
        }
        thread.start()
        defer {
            stop.store(true, ordering: .releasing)
            while !thread.isFinished { usleep(10_000) }
        }
        var outcomes: [String: Int] = [:]
        for epoch in 0..<total {
            // Keeping up: the consumer has handled all but the last 10 epochs (its backlog —
            // unread, plus read and handled but not yet acknowledged — stays near 20, well
            // below 50 even with the publisher's own writes since the last measurement).
            let deadline = Date().addingTimeInterval(30)
            while epoch - acked.load(ordering: .acquiring) > 10 && Date() < deadline { usleep(200) }
            var packet = statePacket(epoch)
            packet.packetId = "epoch-\(epoch)"
            switch try bus.client.publishState(packet) {
            case .published(let stream, _, _, let rerouted): outcomes[rerouted ? "rerouted" : stream.label, default: 0] += 1
            case .dropped: outcomes["dropped", default: 0] += 1
            case .shed: outcomes["shed", default: 0] += 1
            case .rejected: outcomes["rejected", default: 0] += 1
            }
        }
        #expect(eventually(within: 30) { acked.load(ordering: .acquiring) == total })
        #expect(outcomes == ["normal": total])
        let snapshot = bus.client.metricsSnapshot()
        #expect(snapshot.publishRerouted == 0 && snapshot.publishDropped == 0 && snapshot.publishTotal == total)
        // The history is far above the thresholds; the backlog is not.
        #expect(try bus.length(.normal) >= 150)
        bus.client.refreshStatistics()
        #expect(bus.client.metricsSnapshot().queueDepthNormal < 50)
        let counts = seen.withLock { $0 }
        #expect(counts.count == total)
        #expect(counts.values.allSatisfy { $0 == 1 })
    }

    /// A consumer that stops: the backlog grows, publishes are rerouted and then dropped, and
    /// each is counted — locally, in the fleet view, and announced as an event on the bus.
    @Test func aStalledConsumerCausesReroutesAndDropsThatAreCounted() throws {
        let bus = try TestBus(BacklogTests.smallThresholds)
        let stalled = bus.consumer([.normal, .emergency], name: "stalled")
        try bus.client.publishState(statePacket(-1 & 0xFFFF))
        _ = try stalled.poll(count: 1, block: .zero) { _ in }  // it joined and read one, then stopped reading
        var rerouted = 0
        var dropped = 0
        for epoch in 0..<400 {
            switch try bus.client.publishState(statePacket(epoch)) {
            case .published(_, _, _, let wasRerouted): if wasRerouted { rerouted += 1 }
            case .dropped: dropped += 1
            default: Issue.record("unexpected outcome")
            }
        }
        #expect(rerouted > 0)
        #expect(dropped > 0)
        // Overshoot past a threshold is bounded by one refresh window.
        #expect(try bus.length(.normal) <= 1 + 50 + 16)
        let snapshot = bus.client.metricsSnapshot()
        #expect(snapshot.publishRerouted == rerouted)
        #expect(snapshot.publishDropped == dropped)
        #expect(bus.prometheusText().contains("esper_oona_publish_dropped_total \(dropped)"))
        bus.client.refreshStatistics()
        let fleet = bus.client.fleetCounters
        #expect(fleet.publishers.map(\.id) == ["test-consumer"])
        #expect(fleet.total["publish_dropped"] == dropped)
        #expect(fleet.total["publish_rerouted"] == rerouted)
        #expect(bus.client.metricsSnapshot().queueDepthNormal >= 50)
        // The drop was announced on the bus: an `oona_publish_dropped` event from `oona`.
        let recorder = Recorder()
        try bus.drain(bus.consumer([.telemetry], name: "reader")) { recorder.record($0) }
        let announcements = recorder.all.compactMap { delivery -> TelemetryEvent? in
            guard case .telemetry(let packet) = delivery.message, packet.sourceSubsystem == "oona" else { return nil }
            return packet.events.first { $0.description == "oona_publish_dropped" }
        }
        #expect(!announcements.isEmpty)
        #expect(announcements.first?.attributes["publisher"] == "test-consumer")
    }

    /// Conservative mode: an operator's switch reaches another process through Redis;
    /// telemetry detail is sampled (1 in 10), while state packets and telemetry with events
    /// are never shed; the counters say what was shed.
    @Test func conservativeModeShedsTelemetryDetailOnly() throws {
        let bus = try TestBus { config in
            config.conservativeOnBacklog = nil
            config.conservativeTelemetrySample = 10
        }
        var worker = bus.client.configuration
        worker.consumerName = "worker-b"
        worker.conservativeAuto = false
        let other = try OonaClient(configuration: worker, endpoint: bus.redis.endpoint, logger: TestBus.quietLogger)
        defer { other.stop() }
        #expect(!other.mode.isConservative)
        let state = try bus.client.setConservativeMode(true, reason: "queue-depth spike")
        #expect(state.conservative && state.source == .manual && state.reason == "queue-depth spike")
        other.refreshStatistics()
        #expect(other.mode.isConservative)
        #expect(other.mode.current.reason == "queue-depth spike")

        var written = 0
        var shed = 0
        for index in 0..<100 {
            let detail = TelemetryPacket.build(
                packetId: "detail-\(index)", source: "tolaria", level: .info,
                metrics: [MetricPoint(name: "tolaria.epoch.loss", value: 1, unit: "")])
            switch try other.publishTelemetry(detail) {
            case .published: written += 1
            case .shed(let stream):
                #expect(stream == .telemetry)
                shed += 1
            default: Issue.record("unexpected outcome")
            }
        }
        #expect(written == 10 && shed == 90)
        #expect(other.metricsSnapshot().publishShed == 90)
        // Never shed: state packets, field-report-like normal traffic, telemetry with events.
        for index in 0..<20 { #expect(try other.publishState(statePacket(index)).wasPublished) }
        let event = TelemetryPacket.build(
            packetId: "event", source: "tolaria", level: .info, metrics: [],
            events: [TelemetryEvent(description: "run_status", level: .info, attributes: [:])])
        for _ in 0..<20 { #expect(try other.publishTelemetry(event).wasPublished) }
        #expect(other.metricsSnapshot().publishShed == 90)
        // The fleet view carries the worker's shed counter.
        other.refreshStatistics()
        bus.client.refreshStatistics()
        #expect(bus.client.fleetCounters.publishers.first { $0.id == "worker-b" }?.counters["publish_shed"] == 90)
        #expect(bus.client.metricsSnapshot().fleet["publish_shed"] == 90)

        _ = try bus.client.setConservativeMode(false, reason: "")
        other.refreshStatistics()
        #expect(!other.mode.isConservative)
    }

    /// The automatic switch: on after sustained backlog, off again (with hysteresis) once it
    /// is worked off; an operator's "on" is never switched off automatically.
    @Test func conservativeModeSwitchesItselfWithHysteresis() throws {
        let bus = try TestBus { config in
            config.emergencyThreshold = nil
            config.backpressureDropThreshold = nil
            config.conservativeOnBacklog = 10
            config.conservativeOffBacklog = 2
            config.conservativeSustainSamples = 2
        }
        for index in 0..<12 { try bus.client.publishState(statePacket(index)) }
        bus.client.refreshStatistics()
        #expect(!bus.client.mode.isConservative)  // one sample is not sustained
        bus.client.refreshStatistics()
        #expect(bus.client.mode.isConservative)
        #expect(bus.client.mode.current.source == .automatic)
        // Worked down to 5: between the thresholds, it stays on.
        let consumer = bus.consumer([.normal], name: "catching-up")
        _ = try consumer.poll(count: 7, block: .zero) { _ in }
        bus.client.refreshStatistics()
        bus.client.refreshStatistics()
        #expect(bus.client.mode.isConservative)
        try bus.drain(consumer) { _ in }
        bus.client.refreshStatistics()
        bus.client.refreshStatistics()
        #expect(!bus.client.mode.isConservative)
        // An operator's "on" stays on under no backlog.
        _ = try bus.client.setConservativeMode(true, reason: "operator")
        for _ in 0..<3 { bus.client.refreshStatistics() }
        #expect(bus.client.mode.isConservative)
        #expect(bus.client.mode.current.source == .manual)
    }
}
