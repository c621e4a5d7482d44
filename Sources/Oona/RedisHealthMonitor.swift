public import Foundation
import Synchronization

/// Pings Redis from a background thread every `interval` and keeps the last result, so
/// `/healthz` answers from memory (it is polled often; a connection per call would cost more
/// than the rest of the request).
public final class RedisHealthMonitor: Sendable {
    public struct Status: Sendable, Equatable {
        public var reachable: Bool
        public var latencyMicroseconds: Int
        public var error: String?
        public var checkedAt: Date?
    }

    public let endpoint: RedisEndpoint
    private let interval: Duration
    private let state = Mutex(Status(reachable: false, latencyMicroseconds: 0, error: "not checked yet", checkedAt: nil))
    private let running = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(true)

    public init(endpoint: RedisEndpoint, interval: Duration = .milliseconds(500)) {
        self.endpoint = endpoint
        self.interval = interval
    }

    public var status: Status { state.withLock { $0 } }

    /// Checks once now (so the first `/healthz` is already true), then keeps checking.
    public func start() {
        running.store(true, ordering: .releasing)
        finished.store(false, ordering: .releasing)
        var connection: RedisConnection? = nil
        check(&connection)
        let thread = Thread { [self] in
            var connection: RedisConnection? = nil
            while running.load(ordering: .acquiring) {
                check(&connection)
                var slept: Duration = .zero
                while slept < interval && running.load(ordering: .acquiring) {
                    usleep(20_000)
                    slept += .milliseconds(20)
                }
            }
            finished.store(true, ordering: .releasing)
        }
        thread.name = "esper-redis-health"
        thread.start()
    }

    public func stop() {
        running.store(false, ordering: .releasing)
        while !finished.load(ordering: .acquiring) { usleep(5_000) }
    }

    private func check(_ connection: inout RedisConnection?) {
        let start = ContinuousClock.now
        do {
            if connection == nil || connection!.isBroken {
                connection = try RedisConnection(endpoint: endpoint, timeout: .milliseconds(500))
            }
            let reply = try connection!.command(["PING"])
            guard reply == .status("PONG") else { throw RedisError("unexpected reply to PING: \(reply)") }
            let elapsed = ContinuousClock.now - start
            let micros = Int(elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000)
            state.withLock { $0 = Status(reachable: true, latencyMicroseconds: micros, error: nil, checkedAt: Date()) }
        } catch {
            connection = nil
            state.withLock { $0 = Status(reachable: false, latencyMicroseconds: 0, error: "\(error)", checkedAt: Date()) }
        }
    }
}
