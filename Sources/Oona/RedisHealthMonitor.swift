public import Foundation
import Synchronization

/// Pings Redis from a background thread every `interval` and keeps the last result, so
/// `/healthz` answers from memory (it is polled often; a connection per call would cost more
/// than the rest of the request).
public final class RedisHealthMonitor: LongRunningService {
    public struct Status: Sendable, Equatable {
        public var reachable: Bool
        public var latencyMicroseconds: Int
        public var error: String?
        public var checkedAt: Date?
    }

    public let endpoint: RedisEndpoint
    private let interval: Duration
    private let state = Mutex(Status(reachable: false, latencyMicroseconds: 0, error: "not checked yet", checkedAt: nil))
    private let thread = BackgroundThread(name: "esper-redis-health")

    public init(endpoint: RedisEndpoint, interval: Duration = .milliseconds(500)) {
        self.endpoint = endpoint
        self.interval = interval
    }

    public var status: Status { state.withLock { $0 } }

    public var name: String { "redis-health" }

    public var health: ServiceHealth {
        let status = self.status
        return ServiceHealth(
            healthy: status.reachable, detail: status.reachable ? "PING \(status.latencyMicroseconds) µs" : status.error ?? "unreachable")
    }

    /// Checks once now (so the first `/healthz` is already true), then keeps checking.
    public func start() {
        guard !thread.isRunning else { return }
        var connection: RedisConnection? = nil
        check(&connection)
        thread.start { [self] stop in
            var connection: RedisConnection? = nil
            while !stop.isStopped {
                check(&connection)
                stop.wait(interval)
            }
        }
    }

    public func stop() { thread.stop() }

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
