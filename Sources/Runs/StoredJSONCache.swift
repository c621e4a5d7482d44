import EsperJSON
import Synchronization

/// What a stored JSON document (a run's config, its latest epoch summary) decodes to and the
/// bytes `JanssonEncoder` gives for it again, memoized per run: a page of runs used to decode
/// and re-encode fifty configs and summaries per request. An entry is used only while the
/// stored text is the one it was made from (compared whole, which costs far less than hashing
/// it), so the answer is exactly the decode-and-encode one for any row (an older row that
/// decodes with defaults filled in, too) and a changed row simply replaces its entry. Bounded:
/// when full it starts over (the next requests fill it again).
final class StoredJSONCache<Value: Codable & Sendable>: Sendable {
    struct Entry: Sendable {
        let value: Value
        let json: [UInt8]
    }

    private struct Slot: Sendable {
        let text: [UInt8]
        let entry: Entry?
    }

    let capacity: Int
    private let slots = Mutex<[String: Slot]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// The decoded value of run `id`'s stored `text` (as SQLite holds it) and its encoding,
    /// or nil when `text` does not decode as `Value`.
    func entry(_ id: String, _ text: UnsafeBufferPointer<UInt8>) -> Entry? {
        if let slot = slots.withLock({ $0[id] }), slot.text.elementsEqual(text) { return slot.entry }
        let stored = Array(text)
        let entry: Entry? = (try? JanssonDecoder().decode(Value.self, from: stored)).flatMap { value in
            (try? JanssonEncoder().encode(value)).map { Entry(value: value, json: $0) }
        }
        slots.withLock { slots in
            if slots.count >= capacity { slots.removeAll(keepingCapacity: true) }
            slots[id] = Slot(text: stored, entry: entry)
        }
        return entry
    }
}
