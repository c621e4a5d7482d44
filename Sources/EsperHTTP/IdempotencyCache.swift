import Synchronization

/// `Idempotency-Key` for creating POSTs: the first response to a key is kept (24 h, at most
/// `capacity` keys, oldest evicted) and returned again — marked `Idempotent-Replayed: true` —
/// to a retry with the same key and the same body. The same key with another body is a 422;
/// a retry while the first request is still being handled is a 409.
final class IdempotencyCache: Sendable {
    private struct Entry {
        let route: Int
        let bodyDigest: Int
        var response: HTTPResponse?  // nil while the first request runs
        let storedAt: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    let capacity: Int
    let lifetime: Duration

    init(capacity: Int = 10_000, lifetime: Duration = .seconds(24 * 3600)) {
        self.capacity = capacity
        self.lifetime = lifetime
    }

    static let maxKeyLength = 255

    enum Outcome {
        case proceed
        case replay(HTTPResponse)
        case reject(Problem)
    }

    /// Called before the handler runs.
    func begin(key: String, route: Int, body: [UInt8]) -> Outcome {
        guard !key.isEmpty, key.utf8.count <= IdempotencyCache.maxKeyLength else {
            return .reject(Problem.badRequest("Idempotency-Key must be 1-\(IdempotencyCache.maxKeyLength) bytes"))
        }
        let digest = body.hashValue
        return entries.withLock { entries in
            let now = ContinuousClock.now
            if let entry = entries[key], now - entry.storedAt < lifetime {
                guard entry.route == route, entry.bodyDigest == digest else {
                    return .reject(
                        Problem(
                            status: 422, type: "/problems/idempotency-key-reused",
                            detail: "Idempotency-Key '\(key)' was used for a different request"))
                }
                guard var response = entry.response else {
                    return .reject(Problem.conflict("a request with Idempotency-Key '\(key)' is still being handled"))
                }
                response.headers.append(("Idempotent-Replayed", "true"))
                return .replay(response)
            }
            if entries.count >= capacity {
                // Evict expired entries first, then the oldest.
                entries = entries.filter { now - $0.value.storedAt < lifetime }
                if entries.count >= capacity, let oldest = entries.min(by: { $0.value.storedAt < $1.value.storedAt }) {
                    entries[oldest.key] = nil
                }
            }
            entries[key] = Entry(route: route, bodyDigest: digest, response: nil, storedAt: now)
            return .proceed
        }
    }

    /// Called with the handler's response; only successes are kept (a failed request may be
    /// retried with the same key and run again).
    func finish(key: String, response: HTTPResponse) {
        entries.withLock { entries in
            if response.status < 400, let entry = entries[key] {
                entries[key] = Entry(route: entry.route, bodyDigest: entry.bodyDigest, response: response, storedAt: entry.storedAt)
            } else {
                entries[key] = nil
            }
        }
    }
}
