import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// Who may open a connection when many are open: the server's own per-address cap and a
/// reserve for light clients, decided at accept time (libmicrohttpd's accept-policy
/// callback) from the connections open now.
///
/// Up to `maxConnections − reserved`, any address may connect up to `perAddress` (0: no cap).
/// The last `reserved` slots only take addresses holding fewer than `lightClient` connections:
/// so idle keep-alive connections piling up from a few addresses can fill the server only up
/// to the reserve, and a health checker or an operator from another address still gets in.
/// Trusted proxies (`ESPER_HTTP_TRUSTED_PROXIES`) carry many users on one address and are
/// exempt from both.
///
/// A connection is counted when the accept policy admits it (`reserve`), not when
/// libmicrohttpd reports it started: counting at "started" let a burst of connects from one
/// address, admitted by several pool threads before any of them started, exceed the cap.
/// libmicrohttpd calls the accept policy and then, on the same thread and synchronously, the
/// "started" notification — unless it refuses the connection in between (its own connection
/// limit, no memory). So each thread holds at most one reservation not yet started: "started"
/// claims it, and the thread's next `reserve` (or `dropUnstarted` at stop) releases one that
/// never started. "closed" follows every "started" exactly once and releases the count.
final class ConnectionBudget: Sendable {
    let maxConnections: Int
    let perAddress: Int
    let reserved: Int
    let trusted: Set<String>
    static let lightClient = 4

    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]
        /// Admitted by the accept policy on this thread, not yet reported started.
        var unstarted: [UInt: String] = [:]

        mutating func add(_ address: String) {
            total += 1
            byAddress[address, default: 0] += 1
        }

        mutating func remove(_ address: String) {
            guard let held = byAddress[address], held > 0 else { return }  // never counted: nothing to release
            total -= 1
            byAddress[address] = held > 1 ? held - 1 : nil
        }
    }

    private let counts = Mutex(Counts())

    init(maxConnections: Int, perAddress: Int, reserved: Int, trusted: Set<String>) {
        self.maxConnections = maxConnections
        self.perAddress = perAddress
        self.reserved = min(max(0, reserved), maxConnections - 1)
        self.trusted = trusted
    }

    private static var thread: UInt { UInt(pthread_self()) }

    /// Whether a new connection from `address` is accepted now; if it is, it is counted at once.
    func reserve(_ address: String) -> Bool {
        let thread = ConnectionBudget.thread
        return counts.withLock { counts in
            // This thread's previous admission never started: libmicrohttpd refused it after the policy.
            if let stale = counts.unstarted.removeValue(forKey: thread) { counts.remove(stale) }
            guard admits(address, counts) else { return false }
            counts.add(address)
            counts.unstarted[thread] = address
            return true
        }
    }

    private func admits(_ address: String, _ counts: Counts) -> Bool {
        guard counts.total < maxConnections else { return false }
        if trusted.contains(address) { return true }
        let held = counts.byAddress[address] ?? 0
        if perAddress > 0 && held >= perAddress { return false }
        if counts.total >= maxConnections - reserved { return held < ConnectionBudget.lightClient }
        return true
    }

    /// libmicrohttpd reports the connection started: the reservation made on this thread is
    /// now an open connection (a connection that bypassed the policy is counted here).
    func started(_ address: String) {
        let thread = ConnectionBudget.thread
        counts.withLock { counts in
            if counts.unstarted[thread] == address {
                counts.unstarted[thread] = nil
            } else {
                counts.add(address)
            }
        }
    }

    func closed(_ address: String) {
        counts.withLock { $0.remove(address) }
    }

    /// Releases reservations that never started (called once the daemon has stopped and
    /// every started connection has been reported closed).
    func dropUnstarted() {
        counts.withLock { counts in
            for address in counts.unstarted.values { counts.remove(address) }
            counts.unstarted = [:]
        }
    }

    var open: Int { counts.withLock { $0.total } }

    /// Connections counted for `address` now.
    func held(by address: String) -> Int { counts.withLock { $0.byAddress[address] ?? 0 } }
}
