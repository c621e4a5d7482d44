/// An enum field's JSON values, made once per field: each case's quoted name, indexed by the
/// byte the case is stored as, so a field table writes an enum field in place (one copy, no
/// `String` of the name, no closure call) and checks the `known` rule by comparing one byte.
///
/// Only for enums stored in one byte (every `LeylineEnum` has fewer than 256 cases, none has a
/// payload): the byte of each case is read from the case itself, not assumed, and a type
/// where two cases shared a byte would get no table (`init` fails, the field then goes
/// through its closures as before).
final class LeylineEnumText: @unchecked Sendable {
    // @unchecked: immutable after init, owned by its field, which lives as long as its table.
    /// Every case's quoted name, one after another.
    private let text: UnsafeMutableBufferPointer<UInt8>
    /// Per stored byte: where its quoted name is in `text` (count 0: no case has that byte).
    private let ranges: UnsafeMutableBufferPointer<(start: Int, count: Int)>
    /// The stored byte of the enum's 0 ("unknown"/"unspecified") value.
    let unknownTag: UInt8
    /// What the `known` rule reports for it (as `LeylineValidator.known`).
    let unknownMessage: String

    init?<V>(_ type: V.Type) {
        guard let enumeration = type as? any LeylineEnum.Type, let cases = LeylineEnumText.cases(of: enumeration) else { return nil }
        let names = cases.map { value in
            var writer = LeylineJSONWriter(capacity: value.name.utf8.count + 8)
            writer.string(value.name)
            return (value.tag, writer.bytes)
        }
        text = .allocate(capacity: names.reduce(0) { $0 + $1.1.count })
        let slots = Int(names.map(\.0).max() ?? 0) + 1
        ranges = .allocate(capacity: slots)
        _ = ranges.initialize(from: repeatElement((start: 0, count: 0), count: slots))
        var end = 0
        for (tag, bytes) in names {
            ranges[Int(tag)] = (end, bytes.count)
            for byte in bytes {
                text[end] = byte
                end += 1
            }
        }
        let unknown = cases.first { $0.raw == 0 }
        unknownTag = unknown?.tag ?? UInt8.max
        unknownMessage = "must be set (not \(unknown?.name ?? ""))"
    }

    deinit {
        text.deallocate()
        ranges.deallocate()
    }

    /// The quoted name of the case stored as `tag`.
    @inline(__always) func json(_ tag: UInt8) -> UnsafeBufferPointer<UInt8> {
        let range = ranges[Int(tag)]
        return UnsafeBufferPointer(rebasing: text[range.start..<range.start + range.count])
    }

    /// Each case's stored byte, name and number; nil unless the enum is one byte and its cases'
    /// bytes are distinct.
    private static func cases<E: LeylineEnum>(of type: E.Type) -> [(tag: UInt8, name: String, raw: Int32)]? {
        guard MemoryLayout<E>.size == 1 else { return nil }
        let cases = E.allCases.map { value in (tag: withUnsafeBytes(of: value) { $0[0] }, name: value.name, raw: value.rawValue) }
        guard Set(cases.map(\.tag)).count == cases.count else { return nil }
        return cases
    }
}
