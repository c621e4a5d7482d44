import Synchronization

/// A small lock-protected pool of command connections (hiredis contexts are not
/// thread-safe: each is used by one thread at a time). Broken connections are dropped;
/// the next use opens a fresh one, and the first successful reconnect after a loss is
/// counted. Blocking reads never come from here: consumers own their connection.
final class RedisConnectionPool: Sendable {
    /// A connection checked out of the pool; only the thread holding it uses it.
    final class Lease: @unchecked Sendable {
        let connection: RedisConnection
        init(_ connection: RedisConnection) { self.connection = connection }
    }

    let endpoint: RedisEndpoint
    private let connectTimeout: Duration
    private let commandTimeout: Duration
    private let maxIdle: Int
    private let onReconnect: @Sendable () -> Void

    private struct State {
        var idle: [Lease] = []
        var lostConnection = false
    }

    private let state = Mutex(State())

    init(
        endpoint: RedisEndpoint, connectTimeout: Duration, commandTimeout: Duration, maxIdle: Int = 4,
        onReconnect: @escaping @Sendable () -> Void
    ) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.maxIdle = maxIdle
        self.onReconnect = onReconnect
    }

    /// Runs `body` with a connection. An I/O failure on a connection that had sat idle in the
    /// pool (it may have died with a restarted Redis) is retried once on a fresh connection;
    /// a failure on a fresh one is reported.
    func withConnection<T>(_ body: (RedisConnection) throws(RedisError) -> T) throws(RedisError) -> T {
        let reused = state.withLock { $0.idle.popLast() }
        if let reused {
            do {
                let result = try body(reused.connection)
                giveBack(reused)
                return result
            } catch {
                guard reused.connection.isBroken else { giveBack(reused); throw error }
                state.withLock { $0.lostConnection = true }
            }
        }
        let fresh = try open()
        do {
            let result = try body(fresh.connection)
            giveBack(fresh)
            return result
        } catch {
            if fresh.connection.isBroken { state.withLock { $0.lostConnection = true } } else { giveBack(fresh) }
            throw error
        }
    }

    private func open() throws(RedisError) -> Lease {
        let connection: RedisConnection
        do {
            connection = try RedisConnection(endpoint: endpoint, timeout: connectTimeout)
        } catch {
            state.withLock { $0.lostConnection = true }
            throw error
        }
        connection.setTimeout(commandTimeout)
        let reconnected = state.withLock { state -> Bool in
            defer { state.lostConnection = false }
            return state.lostConnection
        }
        if reconnected { onReconnect() }
        return Lease(connection)
    }

    private func giveBack(_ lease: Lease) {
        guard !lease.connection.isBroken else {
            state.withLock { $0.lostConnection = true }
            return
        }
        state.withLock { state in
            if state.idle.count < maxIdle { state.idle.append(lease) }
        }
    }

    /// Closes idle connections (on stop).
    func drain() {
        state.withLock { $0.idle.removeAll() }
    }
}
