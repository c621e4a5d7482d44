import EsperJSON
import Synchronization

/// What a stored JSON document (a run's config, its latest epoch summary) decodes to and the
/// bytes `JanssonEncoder` gives for it again, memoized by the stored text: a page of runs used
/// to decode and re-encode fifty configs and summaries per request. Keyed by the text itself,
/// so the answer is exactly the decode-and-encode one for any row (an older row that decodes
/// with defaults filled in, too), and a changed row is simply a new key. Bounded: when full it
/// starts over (the next requests fill it again).
final class StoredJSONCache<Value: Codable & Sendable>: Sendable {
    struct Entry: Sendable {
        let value: Value
        let json: [UInt8]
    }

    let capacity: Int
    private let entries = Mutex<[String: Entry?]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The decoded value and its encoding, or nil when `text` does not decode as `Value`.
    func entry(_ text: String) -> Entry? {
        if let cached = entries.withLock({ $0[text] }) { return cached }
        let entry: Entry? = RunRegistry.decode(Value.self, text).flatMap { value in
            (try? JanssonEncoder().encode(value)).map { Entry(value: value, json: $0) }
        }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[text] = .some(entry)
        }
        return entry
    }
}
