import EsperTestSupport
import Foundation
import Leyline
import Oona
import Synchronization
import Testing

@Suite(.serialized) struct FaultTests {
    /// Redis is SIGKILLed in the middle of a publish loop and restarted by its supervisor.
    /// The client never crashes or hangs: publishes fail (unavailable, then fast with the
    /// breaker open), the breaker half-opens and closes once Redis is back, and every publish
    /// that was acknowledged before the kill is still in the stream (append-only file).
    @Test func clientRecoversWhenRedisIsKilledAndRestarted() throws {
        let bus = try TestBus { config in
            config.emergencyThreshold = nil
            config.backpressureDropThreshold = nil
            config.maxStreamLength = nil
            config.breakerRecovery = .milliseconds(200)
        }
        let consumer = Unchecked(bus.consumer([.normal]))
        var acknowledged: [String] = []
        var failures: [OonaError] = []
        var killed = false
        var index = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            index += 1
            do {
                let outcome = try bus.client.publishState(statePacket(index))
                if case .published(_, let entryId, _, _) = outcome { acknowledged.append(entryId) }
            } catch {
                failures.append(error)
            }
            if index == 50 && !killed {
                kill(try #require(bus.redis.managed.pid), SIGKILL)
                killed = true
            }
            // Done once the breaker opened at least once and publishes flow again.
            if killed && bus.client.publishBreaker.openCount > 0 && bus.client.publishBreaker.currentState == .closed
                && acknowledged.count >= 60 && failures.count > 0
            {
                break
            }
            usleep(2_000)
        }
        #expect(killed)
        #expect(bus.client.publishBreaker.openCount >= 1, "the breaker opened")
        #expect(bus.client.publishBreaker.currentState == .closed, "and closed again")
        #expect(failures.contains { if case .circuitOpen = $0 { true } else { false } }, "publishes failed fast while open")
        #expect(failures.allSatisfy { $0.isTransient })
        #expect(bus.redis.managed.restartCount >= 1)
        #expect(bus.client.metricsSnapshot().reconnects >= 1)

        // Nothing acknowledged was lost.
        let redis = try bus.connection()
        let ids = Set((try redis.command(["XRANGE", bus.keys.key(.normal), "-", "+"]).array ?? []).compactMap { $0.array?.first?.text })
        #expect(
            acknowledged.allSatisfy { ids.contains($0) }, "\(acknowledged.filter { !ids.contains($0) }.count) acknowledged entries lost")

        // The consumer side recovers too.
        let recorder = Recorder()
        let stop = Atomic<Bool>(false)
        let expected = acknowledged.count
        let reader = Thread {
            consumer.value.run(count: 100, block: .milliseconds(100), while: { !stop.load(ordering: .acquiring) }) { recorder.record($0) }
        }
        reader.start()
        #expect(eventually(within: 30) { recorder.count >= expected })
        stop.store(true, ordering: .releasing)
        usleep(300_000)
    }

    /// Redis down from the start: the client is created, calls fail with a clear transient
    /// error, health says degraded — nothing crashes or hangs.
    @Test func clientStartsWhileRedisIsDown() throws {
        var configuration = OonaConfiguration()
        configuration.breakerRecovery = .seconds(60)
        let endpoint = RedisEndpoint(address: .unix(path: "/tmp/esper-no-such-redis-\(getpid()).sock"))
        let client = try OonaClient(configuration: configuration, endpoint: endpoint, logger: TestBus.quietLogger)
        client.start()
        defer { client.stop() }
        #expect(!client.health.healthy)
        var errors: [OonaError] = []
        for index in 0..<5 {
            do { try client.publishState(statePacket(index)) } catch { errors.append(error) }
        }
        #expect(errors.count == 5)
        #expect(errors.prefix(3).allSatisfy { if case .unavailable = $0 { true } else { false } })
        #expect(errors.suffix(2).allSatisfy { if case .circuitOpen = $0 { true } else { false } })
        #expect(client.publishBreaker.currentState == .open)
        #expect(client.health.detail.contains("publish breaker open"))
        let consumer = OonaConsumer(client: client, streams: [.normal])
        #expect(throws: OonaError.self) { try consumer.poll(block: .zero) { _ in } }
        #expect(client.metricsSnapshot().publishFailed == 5)
    }

    @Test func anOpenBreakerProbesWithBackoffInsteadOfWaitingItsRecoveryWindow() throws {
        let breaker = CircuitBreaker(name: "test", failureThreshold: 1, recovery: .seconds(30), halfOpenTrials: 1)
        try breaker.acquire()
        breaker.recordFailure()
        #expect(breaker.currentState == .open)
        // The first probe comes after 50 ms, not after the 30 s window.
        #expect(eventually(within: 5) { breaker.currentState == .halfOpen })
        // Failed probes double the wait, capped at 2 s: four failures in a row still probe
        // again well within the window.
        for _ in 0..<4 {
            #expect(eventually(within: 5) { breaker.currentState == .halfOpen })
            try breaker.acquire()
            breaker.recordFailure()
        }
        #expect(breaker.currentState == .open)
        #expect(throws: OonaError.self) { try breaker.acquire() }
        #expect(eventually(within: 5) { breaker.currentState == .halfOpen })
        try breaker.acquire()
        breaker.recordSuccess()
        #expect(breaker.currentState == .closed)
        #expect(breaker.maxProbeInterval == .seconds(2))
    }

    @Test func breakerOpensAfterThreeFailuresAndProbesAfterRecovery() throws {
        let changes = Mutex<[CircuitBreakerState]>([])
        let breaker = CircuitBreaker(name: "test", failureThreshold: 3, recovery: .milliseconds(50), halfOpenTrials: 2) { state in
            changes.withLock { $0.append(state) }
        }
        for _ in 0..<2 {
            try breaker.acquire()
            breaker.recordFailure()
        }
        #expect(breaker.currentState == .closed)
        try breaker.acquire()
        breaker.recordFailure()
        #expect(breaker.currentState == .open)
        #expect(throws: OonaError.self) { try breaker.acquire() }
        #expect(eventually(within: 5) { breaker.currentState == .halfOpen })
        try breaker.acquire()  // trial 1
        try breaker.acquire()  // trial 2
        #expect(throws: OonaError.self) { try breaker.acquire() }  // at most two trials
        breaker.recordFailure()
        #expect(breaker.currentState == .open)
        #expect(eventually(within: 5) { breaker.currentState == .halfOpen })
        try breaker.acquire()
        breaker.recordSuccess()
        #expect(breaker.currentState == .closed)
        #expect(changes.withLock { $0 } == [.open, .halfOpen, .open, .halfOpen, .closed])
        #expect(breaker.openCount == 2)
    }
}
