import EsperJSON
import Foundation

/// What a stored JSON document (a run's config, its latest epoch summary) decodes to and the
/// bytes `JanssonEncoder` gives for it again, memoized per run: a page of runs used to decode
/// and re-encode fifty configs and summaries per request. An entry is used only while the
/// stored text is the one it was made from (compared whole, which costs far less than hashing
/// it), so the answer is exactly the decode-and-encode one for any row (an older row that
/// decodes with defaults filled in, too) and a changed row simply replaces its entry.
/// Bounded as `GenerationalCache` is. The stored text is kept once when it is already the
/// encoder's bytes (the registry writes them so): an entry then costs one copy of each
/// document.
final class StoredJSONCache<Value: Codable & Sendable>: Sendable {
    /// Classes, not structs: a lookup hands out one reference (one retain) instead of a copy
    /// of the decoded value, which for a run config retains every string in it — on a page
    /// of fifty runs those copies were a tenth of the request.
    final class Entry: Sendable {
        let value: Value
        let json: [UInt8]

        init(value: Value, json: [UInt8]) {
            self.value = value
            self.json = json
        }
    }

    private final class Slot: Sendable {
        /// The stored text when it differs from `entry.json` (or there is no entry).
        let text: [UInt8]?
        let entry: Entry?

        init(text: [UInt8]?, entry: Entry?) {
            self.text = text
            self.entry = entry
        }

        func holds(_ stored: UnsafeBufferPointer<UInt8>) -> Bool {
            let bytes = text ?? entry?.json ?? []
            guard bytes.count == stored.count else { return false }
            return bytes.withUnsafeBytes { own in
                own.count == 0 || memcmp(own.baseAddress!, stored.baseAddress!, own.count) == 0
            }
        }
    }

    private let slots: GenerationalCache<String, Slot>

    init(capacity: Int) {
        slots = GenerationalCache(capacity: capacity)
    }

    /// `value` stored as `json` (its encoding, byte for byte what is stored) for run `id`.
    func remember(_ id: String, value: Value, json: [UInt8]) {
        slots.set(id, Slot(text: nil, entry: Entry(value: value, json: json)))
    }

    /// The decoded value of run `id`'s stored `text` (as SQLite holds it) and its encoding,
    /// or nil when `text` does not decode as `Value`.
    func entry(_ id: String, _ text: UnsafeBufferPointer<UInt8>) -> Entry? {
        if let found = slots.value(id), found.holds(text) { return found.entry }
        let stored = Array(text)
        let entry: Entry? = (try? JanssonDecoder().decode(Value.self, from: stored)).flatMap { value in
            (try? JanssonEncoder().encode(value)).map { Entry(value: value, json: $0) }
        }
        slots.set(id, Slot(text: entry?.json == stored ? nil : stored, entry: entry))
        return entry
    }
}
