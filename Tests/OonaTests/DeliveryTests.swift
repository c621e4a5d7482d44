import EsperJSON
import EsperTestSupport
import Foundation
import Leyline
import Oona
import Synchronization
import Testing

@Suite(.serialized) struct DeliveryTests {
    /// The emergency stream is drained before normal: CRITICAL messages published after
    /// normal ones are handled first.
    @Test func emergencyIsDrainedBeforeNormal() throws {
        let bus = try TestBus {
            $0.emergencyThreshold = nil; $0.backpressureDropThreshold = nil
        }
        for index in 0..<3 { try bus.client.publishState(statePacket(index)) }
        for index in 10..<12 { try bus.client.publish(.systemState(statePacket(index)), options: PublishOptions(priority: .critical)) }
        let recorder = Recorder()
        try bus.drain(bus.consumer([.normal, .emergency])) { recorder.record($0) }
        #expect(recorder.all.map(\.stream) == [.emergency, .emergency, .normal, .normal, .normal])
        #expect(recorder.all.first?.envelope.priority == .critical)
    }

    /// A full emergency batch keeps the consumer on the emergency stream until it is empty.
    @Test func aFullEmergencyBacklogStarvesNormalUntilDrained() throws {
        let bus = try TestBus {
            $0.emergencyThreshold = nil; $0.backpressureDropThreshold = nil
        }
        try bus.client.publishState(statePacket(0))
        for index in 1...25 { try bus.client.publishState(statePacket(index), emergency: true) }
        let recorder = Recorder()
        let consumer = bus.consumer([.normal, .emergency])
        for _ in 0..<5 { _ = try consumer.poll(count: 10, block: .zero) { recorder.record($0) } }
        let streams = recorder.all.map(\.stream)
        #expect(streams.count == 26)
        #expect(Array(streams.prefix(25)) == Array(repeating: .emergency, count: 25))
        #expect(streams.last == .normal)
    }

    /// A consumer that hangs mid-handling (never acknowledges) loses its entry to another
    /// consumer after `claimMinIdle`, which handles it once more.
    @Test func entryOfAHungConsumerIsReclaimedAndHandledAgain() throws {
        let bus = try TestBus()
        try bus.client.publishCommand(Fixtures.adaptationCommand)
        let started = Atomic<Bool>(false)
        let release = Atomic<Bool>(false)
        let handledByA = Atomic<Int>(0)
        let a = Unchecked(bus.consumer([.normal], name: "consumer-a"))
        let thread = Thread {
            _ = try? a.value.poll(count: 10, block: .zero) { _ in
                handledByA.add(1, ordering: .relaxed)
                started.store(true, ordering: .releasing)
                while !release.load(ordering: .acquiring) { usleep(5_000) }  // hung
                throw HandlerCrash()  // and then it dies without acknowledging
            }
        }
        thread.start()
        #expect(eventually(within: 10) { started.load(ordering: .acquiring) })
        #expect(try bus.pending(.normal) == 1)

        let recorder = Recorder()
        let b = bus.consumer([.normal], name: "consumer-b")
        #expect(
            eventually(within: 10) {
                (try? b.poll(count: 10, block: .zero) { recorder.record($0) }) != nil && recorder.count > 0
            })
        release.store(true, ordering: .releasing)
        #expect(recorder.count == 1)
        #expect(recorder.all.first?.deliveryCount == 2)
        #expect(recorder.all.first?.message == .adaptationCommand(Fixtures.adaptationCommand))
        #expect(handledByA.load(ordering: .relaxed) == 1)
        #expect(try bus.pending(.normal) == 0)
        let snapshot = bus.client.metricsSnapshot()
        #expect(snapshot.reclaimed == 1)
        #expect(snapshot.acked == 1)
        #expect(snapshot.handlerFailed >= 0)
    }

    /// After a restart a consumer reads its own pending entries (ID 0) before new ones.
    @Test func restartedConsumerReadsItsOwnPendingEntriesFirst() throws {
        let bus = try TestBus { $0.claimMinIdle = .seconds(3600) }
        try bus.client.publishState(statePacket(1))
        let first = bus.consumer([.normal], name: "worker-1")
        let crashed = try first.poll(count: 10, block: .zero) { _ in throw HandlerCrash() }
        #expect(crashed.failed == 1)
        first.close()
        try bus.client.publishState(statePacket(2))

        let recorder = Recorder()
        let restarted = bus.consumer([.normal], name: "worker-1")
        try bus.drain(restarted) { recorder.record($0) }
        #expect(recorder.all.map { $0.message.messageId } == ["packet-1", "packet-2"])
        #expect(recorder.all.map(\.deliveryCount) == [2, 1])
        #expect(try bus.pending(.normal) == 0)
    }

    /// A handler that always fails: the entry is retried until `maxAttempts` deliveries, then
    /// dead-lettered with the reason and acknowledged.
    @Test func repeatedlyFailingEntriesAreDeadLetteredAfterMaxAttempts() throws {
        let bus = try TestBus { $0.claimMinIdle = .milliseconds(1) }
        try bus.client.publishFieldReport(Fixtures.fieldReport)
        let attempts = Atomic<Int>(0)
        let consumer = bus.consumer([.normal])
        for _ in 0..<10 {
            usleep(5_000)
            _ = try consumer.poll(count: 10, block: .zero) { _ in
                attempts.add(1, ordering: .relaxed)
                throw HandlerCrash()
            }
        }
        #expect(attempts.load(ordering: .relaxed) == 3)
        #expect(try bus.pending(.normal) == 0)
        let letters = try bus.deadLetters(.normal)
        #expect(letters.count == 1)
        #expect(letters.first?["reason"] == "max_attempts_exceeded")
        #expect(letters.first?["deliveries"] == "4")
        #expect(letters.first?["source_stream"] == "esper:{bus}:oona.normal")
        #expect(letters.first?["original_payload"]?.contains("fr-1") == true)
        #expect(bus.client.metricsSnapshot().deadLettered == 1)
        #expect(bus.prometheusText().contains(#"esper_oona_dead_lettered_total{reason="max_attempts_exceeded",stream="normal"} 1"#))
    }
}
