import EsperJSON
import Foundation
import Synchronization

/// What a stored JSON document (a run's config, its latest epoch summary) decodes to and the
/// bytes `JanssonEncoder` gives for it again, memoized per run: a page of runs used to decode
/// and re-encode fifty configs and summaries per request. An entry is used only while the
/// stored text is the one it was made from (compared whole, which costs far less than hashing
/// it), so the answer is exactly the decode-and-encode one for any row (an older row that
/// decodes with defaults filled in, too) and a changed row simply replaces its entry.
///
/// Bounded by two generations of `capacity` entries each: when the current one is full it
/// becomes the old one (the one before is dropped) and entries used again move back to the
/// current one — so between `capacity` and twice that many runs stay, the ones asked for
/// recently. (Dropping everything at `capacity`, as before, made a registry of more runs than
/// that decode and encode both documents on most gets: 10,000 runs against 4,096 entries.)
/// The stored text is kept once when it is already the encoder's bytes (the registry writes
/// them so): an entry then costs one copy of each document.
final class StoredJSONCache<Value: Codable & Sendable>: Sendable {
    struct Entry: Sendable {
        let value: Value
        let json: [UInt8]
    }

    private struct Slot: Sendable {
        /// The stored text when it differs from `entry.json` (or there is no entry).
        let text: [UInt8]?
        let entry: Entry?

        func holds(_ stored: UnsafeBufferPointer<UInt8>) -> Bool {
            let bytes = text ?? entry?.json ?? []
            guard bytes.count == stored.count else { return false }
            return bytes.withUnsafeBytes { own in
                own.count == 0 || memcmp(own.baseAddress!, stored.baseAddress!, own.count) == 0
            }
        }
    }

    private struct Generations: Sendable {
        var current: [String: Slot] = [:]
        var previous: [String: Slot] = [:]
    }

    let capacity: Int
    private let slots = Mutex(Generations())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// The decoded value of run `id`'s stored `text` (as SQLite holds it) and its encoding,
    /// or nil when `text` does not decode as `Value`.
    func entry(_ id: String, _ text: UnsafeBufferPointer<UInt8>) -> Entry? {
        let found: Slot? = slots.withLock { generations in
            if let slot = generations.current[id] { return slot }
            guard let slot = generations.previous.removeValue(forKey: id) else { return nil }
            insert(id, slot, into: &generations)
            return slot
        }
        if let found, found.holds(text) { return found.entry }
        let stored = Array(text)
        let entry: Entry? = (try? JanssonDecoder().decode(Value.self, from: stored)).flatMap { value in
            (try? JanssonEncoder().encode(value)).map { Entry(value: value, json: $0) }
        }
        let slot = Slot(text: entry?.json == stored ? nil : stored, entry: entry)
        slots.withLock { insert(id, slot, into: &$0) }
        return entry
    }

    private func insert(_ id: String, _ slot: Slot, into generations: inout Generations) {
        if generations.current[id] == nil && generations.current.count >= capacity {
            generations.previous = generations.current
            generations.current = Dictionary(minimumCapacity: capacity)
        }
        generations.current[id] = slot
    }
}
