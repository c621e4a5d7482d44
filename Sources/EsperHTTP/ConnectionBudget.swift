import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// Who may open a connection when many are open: the server's own per-address cap and a
/// reserve for light clients, decided at accept time (`HTTPServer`'s acceptor, before the
/// connection goes to a libmicrohttpd daemon) from the connections open now.
///
/// Up to `maxConnections − reserved`, any address may connect up to `perAddress` (0: no cap).
/// The last `reserved` slots only take addresses holding fewer than `lightClient` connections:
/// so idle keep-alive connections piling up from a few addresses can fill the server only up
/// to the reserve, and a health checker or an operator from another address still gets in.
/// Trusted proxies (`ESPER_HTTP_TRUSTED_PROXIES`) carry many users on one address and are
/// exempt from both.
///
/// A connection is counted when it is admitted (`reserve`, on the one accepting thread), so a
/// burst of connects from one address never passes the cap, and released once: when
/// libmicrohttpd refuses it (`closed` by the acceptor) or reports it closed.
final class ConnectionBudget: Sendable {
    let maxConnections: Int
    let perAddress: Int
    let reserved: Int
    let trusted: Set<String>
    static let lightClient = 4

    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]

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

    /// Whether a new connection from `address` is accepted now; if it is, it is counted at once.
    func reserve(_ address: String) -> Bool {
        counts.withLock { counts in
            guard admits(address, counts) else { return false }
            counts.add(address)
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

    func closed(_ address: String) {
        counts.withLock { $0.remove(address) }
    }

    /// Forgets every count (the daemons have stopped: no connection is open, including
    /// any handed over that libmicrohttpd closed without reporting it).
    func reset() {
        counts.withLock { $0 = Counts() }
    }

    var open: Int { counts.withLock { $0.total } }

    /// Connections counted for `address` now.
    func held(by address: String) -> Int { counts.withLock { $0.byAddress[address] ?? 0 } }
}
