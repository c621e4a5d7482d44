public import EsperJSON

/// Writes Leyline values straight to JSON bytes, byte-identical to `JanssonEncoder` (the
/// tests compare the two on every message type): keys sorted bytewise, strings escaped the
/// same way, floats in the same shortest form. It exists because going through a jansson
/// tree and `Encodable` costs ~40 µs for a state packet with 8 seeds; this costs ~2 µs, which
/// the bus (publish throughput, the 10 µs encode+decode budget) needs.
///
/// Callers write an object's keys in ascending byte order themselves (every `write(to:)` in
/// this module lists them sorted).
public struct LeylineJSONWriter {
    public private(set) var bytes: [UInt8] = []
    /// Set when a value JSON cannot carry was written (a non-finite float, a uint64 above
    /// 2^63-1); the caller then encodes through `JanssonEncoder`, which names the field.
    public private(set) var needsSlowPath = false
    private var needsComma = false

    public init(capacity: Int = 2048) {
        bytes.reserveCapacity(capacity)
    }

    // MARK: structure

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A key known at compile time (plain ASCII, nothing to escape).
    public mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A key that is data (map keys).
    public mutating func key(_ name: String) {
        separate()
        appendString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    // MARK: scalars

    public mutating func string(_ value: String) {
        separate()
        appendString(value)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        if value { bytes.append(contentsOf: [116, 114, 117, 101]) } else { bytes.append(contentsOf: [102, 97, 108, 115, 101]) }
        needsComma = true
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: [110, 117, 108, 108])
        needsComma = true
    }

    public mutating func integer(_ value: Int64) {
        separate()
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            appendDigits(value.magnitude)
        } else {
            appendDigits(UInt64(value))
        }
        needsComma = true
    }

    public mutating func unsigned(_ value: UInt32) { integer(Int64(value)) }

    /// `uint64` fields are capped at 2^63-1 like the jansson path (json_int_t is int64).
    public mutating func unsigned(_ value: UInt64) {
        if value > UInt64(Int64.max) { needsSlowPath = true }
        integer(Int64(clamping: value))
    }

    public mutating func double(_ value: Double) {
        separate()
        if value.isFinite {
            var text = value.description
            text.withUTF8 { bytes.append(contentsOf: $0) }
        } else {
            needsSlowPath = true
            bytes.append(UInt8(ascii: "0"))
        }
        needsComma = true
    }

    /// A float goes out as the double nearest its shortest decimal form (so 0.82 prints as
    /// `0.82`), exactly as `JanssonEncoder` writes it. The plain form of `Float.description`
    /// is already that text; only the exponent form differs and takes the slow route.
    public mutating func float(_ value: Float) {
        separate()
        if value.isFinite {
            var text = value.description
            let plain = text.withUTF8 { utf8 -> Bool in
                for byte in utf8 where byte == UInt8(ascii: "e") { return false }
                bytes.append(contentsOf: utf8)
                return true
            }
            if !plain { bytes.append(contentsOf: (Double(text) ?? Double(value)).description.utf8) }
        } else {
            needsSlowPath = true
            bytes.append(UInt8(ascii: "0"))
        }
        needsComma = true
    }

    public mutating func value<E: LeylineEnum>(_ value: E) {
        string(value.name)
    }

    /// Any JSON value (objects with sorted keys).
    public mutating func json(_ value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .int(let i): integer(i)
        case .double(let d): double(d)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { json(item) }
            endArray()
        case .object(let members):
            beginObject()
            for key in members.keys.sorted(by: LeylineJSONWriter.byteOrder) {
                self.key(key)
                json(members[key]!)
            }
            endObject()
        }
    }

    // MARK: containers

    public mutating func floatMap(_ map: [String: Float]) {
        beginObject()
        if map.count == 1, let (key, value) = map.first {
            self.key(key)
            float(value)
        } else {
            for key in map.keys.sorted(by: LeylineJSONWriter.byteOrder) {
                self.key(key)
                float(map[key]!)
            }
        }
        endObject()
    }

    public mutating func stringMap(_ map: [String: String]) {
        beginObject()
        for key in map.keys.sorted(by: LeylineJSONWriter.byteOrder) {
            self.key(key)
            string(map[key]!)
        }
        endObject()
    }

    public mutating func array<T: LeylineJSONWritable>(_ values: [T]) {
        beginArray()
        for value in values { value.write(to: &self) }
        endArray()
    }

    public mutating func stringArray(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    public mutating func map<T: LeylineJSONWritable>(_ map: [String: T]) {
        beginObject()
        for key in map.keys.sorted(by: LeylineJSONWriter.byteOrder) {
            self.key(key)
            map[key]!.write(to: &self)
        }
        endObject()
    }

    /// Key order of jansson's `JSON_SORT_KEYS` and our `JSONWriter`: bytewise UTF-8.
    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    // MARK: bytes

    private mutating func appendDigits(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, enough for 20 digits
        let count = withUnsafeMutableBytes(of: &buffer) { raw -> Int in
            var v = value
            var index = 24
            while v > 0 {
                index -= 1
                raw[index] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
            bytes.append(contentsOf: raw[index..<24])
            return 24 - index
        }
        _ = count
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Escapes as `JSONWriter` does: `\"`, `\\`, the short escapes, other control bytes and
    /// DEL as `\u00XX`; everything else (valid UTF-8) verbatim. Runs without escapes are
    /// copied in one piece.
    private mutating func appendString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            let count = utf8.count
            var start = 0
            var index = 0
            while index < count {
                let byte = utf8[index]
                if byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F {
                    if index > start { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index])) }
                    appendEscape(byte)
                    start = index + 1
                }
                index += 1
            }
            if start == 0 {
                bytes.append(contentsOf: utf8)
            } else if start < count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<count]))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscape(_ byte: UInt8) {
        switch byte {
        case 0x22: bytes.append(contentsOf: [92, 34])
        case 0x5C: bytes.append(contentsOf: [92, 92])
        case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
        case 0x08: bytes.append(contentsOf: [92, UInt8(ascii: "b")])
        case 0x0C: bytes.append(contentsOf: [92, UInt8(ascii: "f")])
        default:
            bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, LeylineJSONWriter.hex[Int(byte >> 4)],
                                      LeylineJSONWriter.hex[Int(byte & 15)]])
        }
    }
}

/// A Leyline value that writes itself with `LeylineJSONWriter`.
public protocol LeylineJSONWritable {
    func write(to writer: inout LeylineJSONWriter)
}
