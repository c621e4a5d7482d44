import Synchronization

/// Who may open a connection when many are open: the server's own per-address cap and a
/// reserve for light clients, decided at accept time (libmicrohttpd's accept-policy
/// callback) from the connections open now (counted by its connection notifications).
///
/// Up to `maxConnections − reserved`, any address may connect up to `perAddress` (0: no cap).
/// The last `reserved` slots only take addresses holding fewer than `lightClient` connections:
/// so idle keep-alive connections piling up from a few addresses can fill the server only up
/// to the reserve, and a health checker or an operator from another address still gets in.
/// Trusted proxies (`ESPER_HTTP_TRUSTED_PROXIES`) carry many users on one address and are
/// exempt from both.
final class ConnectionBudget: Sendable {
    let maxConnections: Int
    let perAddress: Int
    let reserved: Int
    let trusted: Set<String>
    static let lightClient = 4

    private struct Counts {
        var total = 0
        var byAddress: [String: Int] = [:]
    }

    private let counts = Mutex(Counts())

    init(maxConnections: Int, perAddress: Int, reserved: Int, trusted: Set<String>) {
        self.maxConnections = maxConnections
        self.perAddress = perAddress
        self.reserved = min(max(0, reserved), maxConnections - 1)
        self.trusted = trusted
    }

    /// Whether a new connection from `address` is accepted now.
    func admits(_ address: String) -> Bool {
        counts.withLock { counts in
            guard counts.total < maxConnections else { return false }
            if trusted.contains(address) { return true }
            let held = counts.byAddress[address] ?? 0
            if perAddress > 0 && held >= perAddress { return false }
            if counts.total >= maxConnections - reserved { return held < ConnectionBudget.lightClient }
            return true
        }
    }

    func opened(_ address: String) {
        counts.withLock { counts in
            counts.total += 1
            counts.byAddress[address, default: 0] += 1
        }
    }

    func closed(_ address: String) {
        counts.withLock { counts in
            counts.total = max(0, counts.total - 1)
            let left = (counts.byAddress[address] ?? 1) - 1
            counts.byAddress[address] = left > 0 ? left : nil
        }
    }

    var open: Int { counts.withLock { $0.total } }
}
