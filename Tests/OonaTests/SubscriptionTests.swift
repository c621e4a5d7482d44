import EsperTestSupport
import Foundation
import Leyline
import Logging
import Oona
import Synchronization
import Testing

/// `OonaSubscription` against a real redis-server: the group appears once Redis does, every
/// entry is handled and acknowledged exactly once, poisoned entries go to the dead-letter
/// stream, and `stop` returns only after the thread has ended.
@Suite(.serialized) struct SubscriptionTests {
    func options(_ group: String, block: Duration = .milliseconds(100)) -> OonaSubscription.Options {
        .init(streams: [.normal], group: group, consumer: group + "-1", groupStart: "0", block: block, threadName: "test-" + group)
    }

    @Test func groupIsCreatedWhenRedisComesUpLate() throws {
        let directory = TemporaryDirectory("esper-subscription")
        let redis = ManagedRedis(options: ManagedRedis.Options(directory: directory.path + "/redis"), logger: TestBus.quietLogger)
        defer { redis.stop() }
        var configuration = OonaConfiguration()
        configuration.breakerRecovery = .milliseconds(100)
        configuration.connectTimeout = .milliseconds(200)
        let client = try OonaClient(configuration: configuration, endpoint: redis.endpoint, logger: TestBus.quietLogger)
        let subscription = OonaSubscription(client: client, options: options("late"))
        let recorder = Recorder()
        subscription.start(attachNow: true) { recorder.record($0) }
        defer { subscription.stop() }

        // Redis is not there: the first attempt failed and says so; the thread keeps trying.
        #expect(!subscription.status.groupReady)
        #expect(subscription.status.consecutiveFailures >= 1)
        #expect(!subscription.health.healthy)
        #expect(subscription.health.detail.contains("consumer group 'late' not ready"), "\(subscription.health.detail)")

        try redis.start()
        #expect(eventually(within: 30) { subscription.status.groupReady })
        for index in 0..<5 { _ = try client.publishState(statePacket(index)) }
        #expect(eventually(within: 30) { recorder.count == 5 })
        #expect(eventually(within: 10) { subscription.health.healthy }, "\(subscription.health.detail)")
        #expect(subscription.lag() == 0)
    }

    @Test func aLingeringSubscriptionReadsATrickleInFewRounds() throws {
        // A private redis-server: its command counters see only this subscription.
        let directory = TemporaryDirectory("esper-subscription-linger")
        let redis = ManagedRedis(options: ManagedRedis.Options(directory: directory.path + "/redis"), logger: TestBus.quietLogger)
        try redis.start()
        defer { redis.stop() }
        let client = try OonaClient(configuration: OonaConfiguration(), endpoint: redis.endpoint, logger: TestBus.quietLogger)
        defer { client.stop() }
        var lingering = options("linger", block: .milliseconds(100))
        lingering.count = 100
        lingering.linger = .milliseconds(300)
        let subscription = OonaSubscription(client: client, options: lingering)
        let recorder = Recorder()
        subscription.start(attachNow: true) { recorder.record($0) }
        defer { subscription.stop() }
        #expect(eventually(within: 10) { subscription.status.groupReady })
        _ = try client.publishState(statePacket(0))
        #expect(eventually(within: 10) { recorder.count == 1 })
        // The first read found one entry: the next waits out the linger, so forty entries
        // published one at a time meanwhile come in one or two reads, all of them, once.
        let before = try redisCommandCalls("xreadgroup", on: client)
        for index in 1...40 { _ = try client.publishState(statePacket(index)) }
        #expect(eventually(within: 10) { recorder.count == 41 })
        #expect(try redisCommandCalls("xreadgroup", on: client) - before <= 3)
        let ids = recorder.all.map(\.entryId)
        #expect(Set(ids).count == 41)
        #expect(subscription.lag() == 0)
    }

    @Test func everyEntryIsHandledOnceAndPoisonIsDeadLettered() throws {
        let bus = try TestBus { config in
            config.emergencyThreshold = nil
            config.backpressureDropThreshold = nil
        }
        let total = 200
        for index in 0..<total { _ = try bus.client.publishState(statePacket(index)) }
        // Poison: an entry no consumer can read, and one the handler refuses.
        _ = try bus.connection().command(["XADD", bus.keys.key(.normal), "*", "payload", "not json"])
        _ = try bus.client.publishState(statePacket(10_000))

        let subscription = OonaSubscription(client: bus.client, options: options("once"))
        let recorder = Recorder()
        let deadLettered = Mutex<[DeadLetterReason]>([])
        let start = {
            subscription.start(onDeadLetter: { _, _, reason, _ in deadLettered.withLock { $0.append(reason) } }) { delivery in
                if case .systemState(let packet) = delivery.message, packet.packetId == "packet-10000" {
                    throw OonaRejection(detail: "poisoned on purpose")
                }
                recorder.record(delivery)
            }
        }
        start()
        #expect(eventually(within: 30) { recorder.count == total && deadLettered.withLock { $0.count } == 2 })
        subscription.stop()
        #expect(!subscription.status.running)

        // Started again, nothing comes back: every entry was acknowledged.
        start()
        _ = try bus.client.publishState(statePacket(total))
        #expect(eventually(within: 30) { recorder.count == total + 1 })
        subscription.stop()

        let ids = recorder.all.map(\.entryId)
        #expect(Set(ids).count == ids.count, "an entry was handled twice")
        #expect(try bus.pending(.normal, group: "once") == 0)
        #expect(try bus.deadLetterLength(.normal) == 2)
        #expect(Set(deadLettered.withLock { $0 }) == [.malformedJSON, .unexpectedMessageType])
        #expect(subscription.status.handled == total + 1)
    }

    @Test func stopWaitsForTheHandlerInProgress() throws {
        let bus = try TestBus()
        _ = try bus.client.publishState(statePacket(1))
        let subscription = OonaSubscription(client: bus.client, options: options("join", block: .seconds(1)))
        let entered = Atomic<Bool>(false)
        let finished = Atomic<Bool>(false)
        subscription.start { _ in
            entered.store(true, ordering: .releasing)
            Thread.sleep(forTimeInterval: 0.5)
            finished.store(true, ordering: .releasing)
        }
        #expect(eventually(within: 30) { entered.load(ordering: .acquiring) })
        subscription.stop()
        let handlerFinished = finished.load(ordering: .acquiring)
        #expect(handlerFinished, "stop returned while the handler still ran")
        #expect(!subscription.status.running)
        #expect(try bus.pending(.normal, group: "join") == 0)
    }
}

/// `ServiceGroup`: start in order, stop in reverse, and a failed start stops what started.
@Suite struct ServiceGroupTests {
    final class Journal: Sendable {
        let entries = Mutex<[String]>([])
        func add(_ entry: String) { entries.withLock { $0.append(entry) } }
        var all: [String] { entries.withLock { $0 } }
    }

    struct Refused: Error {}

    func service(_ name: String, _ journal: Journal, fails: Bool = false) -> ServiceAdapter {
        ServiceAdapter(
            name: name,
            start: {
                if fails { throw Refused() }
                journal.add("start \(name)")
            }, stop: { journal.add("stop \(name)") })
    }

    @Test func stopsInReverseOrder() throws {
        let journal = Journal()
        let group = ServiceGroup(["a", "b", "c"].map { service($0, journal) }, logger: TestBus.quietLogger)
        try group.start()
        group.stop()
        group.stop()  // a second stop does nothing
        #expect(journal.all == ["start a", "start b", "start c", "stop c", "stop b", "stop a"])
    }

    @Test func aFailedStartStopsTheStartedOnesInReverse() {
        let journal = Journal()
        let group = ServiceGroup(
            [service("a", journal), service("b", journal), service("c", journal, fails: true), service("d", journal)],
            logger: TestBus.quietLogger)
        #expect(throws: ServiceGroup.StartError.self) { try group.start() }
        #expect(journal.all == ["start a", "start b", "stop b", "stop a"])
        group.stop()
        #expect(journal.all.count == 4)
    }
}
