public import EsperJSON

/// Writes Leyline values straight to JSON bytes, byte-identical to `JanssonEncoder` (the
/// tests compare the two on every message type): keys sorted bytewise, strings escaped the
/// same way, floats in the same shortest form. It exists because going through a jansson
/// tree and `Encodable` costs ~40 µs for a state packet with 8 seeds; this costs ~2 µs, which
/// the bus (publish throughput, the 10 µs encode+decode budget) needs.
///
/// Callers write an object's keys in ascending byte order themselves (`LeylineFields` sorts a
/// message's fields once, `Dictionary` sorts map keys).
public struct LeylineJSONWriter: ~Copyable {
    // A plain growable buffer rather than [UInt8]: a message is hundreds of tiny appends, and
    // Array's uniqueness and capacity checks on each were a third of the encoding time.
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// Bytes written so far.
    public private(set) var count = 0
    /// Set when a value JSON cannot carry was written (a non-finite float, a uint64 above
    /// 2^63-1); the caller then encodes through `JanssonEncoder`, which names the field.
    public private(set) var needsSlowPath = false
    private var needsComma = false

    public init(capacity: Int = 2048) {
        self.capacity = max(capacity, 64)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// The document written so far.
    public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// The document written so far, in place (no copy: the bus signs and frames it from here).
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafeBufferPointer(start: storage, count: count))
    }

    /// Empties the writer and keeps its storage, so one writer serves many documents.
    public mutating func reset() {
        count = 0
        needsSlowPath = false
        needsComma = false
    }

    @inline(__always) private mutating func reserve(_ extra: Int) {
        if count + extra > capacity { grow(extra) }
    }

    private mutating func grow(_ extra: Int) {
        let newCapacity = max(capacity * 2, count + extra)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        grown.initialize(from: storage, count: count)
        storage.deallocate()
        storage = grown
        capacity = newCapacity
    }

    @inline(__always) private mutating func put(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    @inline(__always) private mutating func put(_ first: UInt8, _ second: UInt8) {
        reserve(2)
        storage[count] = first
        storage[count + 1] = second
        count += 2
    }

    private mutating func put(_ buffer: UnsafeBufferPointer<UInt8>) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        reserve(buffer.count)
        LeylineJSONWriter.copy(base, buffer.count, to: storage + count)
        count += buffer.count
    }

    /// Most pieces of a message are a few bytes (keys, ids, names): up to 16 bytes are copied
    /// with two overlapping loads and stores (8 or 4 bytes wide) instead of a call to memmove,
    /// which was a tenth of the encoding time; up to 32 bytes (most keys with their quotes and
    /// colon, enum names) with two overlapping 16-byte ones; longer pieces go to
    /// memmove. The source never overlaps the writer's storage.
    @inline(__always) private static func copy(_ source: UnsafePointer<UInt8>, _ length: Int, to target: UnsafeMutablePointer<UInt8>) {
        let from = UnsafeRawPointer(source)
        let to = UnsafeMutableRawPointer(target)
        if length > 16 {
            guard length <= 32 else {
                target.update(from: source, count: length)
                return
            }
            let head = from.loadUnaligned(as: SIMD16<UInt8>.self)
            let tail = from.loadUnaligned(fromByteOffset: length - 16, as: SIMD16<UInt8>.self)
            to.storeBytes(of: head, as: SIMD16<UInt8>.self)
            to.storeBytes(of: tail, toByteOffset: length - 16, as: SIMD16<UInt8>.self)
        } else if length >= 8 {
            let head = from.loadUnaligned(as: UInt64.self)
            let tail = from.loadUnaligned(fromByteOffset: length - 8, as: UInt64.self)
            to.storeBytes(of: head, as: UInt64.self)
            to.storeBytes(of: tail, toByteOffset: length - 8, as: UInt64.self)
        } else if length >= 4 {
            let head = from.loadUnaligned(as: UInt32.self)
            let tail = from.loadUnaligned(fromByteOffset: length - 4, as: UInt32.self)
            to.storeBytes(of: head, as: UInt32.self)
            to.storeBytes(of: tail, toByteOffset: length - 4, as: UInt32.self)
        } else {
            for index in 0..<length { target[index] = source[index] }
        }
    }

    private mutating func put(_ text: String) {
        var text = text
        text.withUTF8 { put($0) }
    }

    // MARK: structure

    public mutating func beginObject() {
        separate()
        put(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        put(UInt8(ascii: "}"))
        needsComma = true
    }

    /// `{}` (an empty map).
    mutating func emptyObject() {
        separate()
        put(UInt8(ascii: "{"), UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func beginArray() {
        separate()
        put(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        put(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A key known at compile time (plain ASCII, nothing to escape).
    public mutating func key(_ name: StaticString) {
        separate()
        put(UInt8(ascii: "\""))
        name.withUTF8Buffer { put($0) }
        put(UInt8(ascii: "\""))
        put(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A key already in its JSON form with the colon (`"name":`, made once by a field table).
    mutating func key(_ quotedWithColon: UnsafeBufferPointer<UInt8>) {
        separate()
        put(quotedWithColon)
        needsComma = false
    }

    /// A key that is data (map keys), escaped like any string.
    public mutating func mapKey(_ name: String) {
        separate()
        appendString(name)
        put(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func separate() {
        if needsComma { put(UInt8(ascii: ",")) }
    }

    // MARK: scalars

    public mutating func string(_ value: String) {
        separate()
        appendString(value)
        needsComma = true
    }

    public mutating func bool(_ value: Bool) {
        separate()
        put(value ? "true" : "false")
        needsComma = true
    }

    public mutating func null() {
        separate()
        put("null")
        needsComma = true
    }

    public mutating func integer(_ value: Int64) {
        separate()
        if value < 0 {
            put(UInt8(ascii: "-"))
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

    /// The shortest text that reads back as `value` (`description`'s), formatted in place.
    public mutating func double(_ value: Double) {
        separate()
        if value.isFinite {
            reserve(ShortestFloatText.capacity)
            count += ShortestFloatText.write(value, to: storage + count)
        } else {
            needsSlowPath = true
            put(UInt8(ascii: "0"))
        }
        needsComma = true
    }

    /// A float goes out as the double nearest its shortest decimal form (so 0.82 prints as
    /// `0.82`), exactly as `JanssonEncoder` writes it. The plain form of `Float.description`
    /// is already that text, formatted here in place; only the exponent form differs and
    /// takes the slow route (parsed back as a double, whose shortest form is written).
    public mutating func float(_ value: Float) {
        separate()
        if value.isFinite {
            reserve(ShortestFloatText.capacity)
            let text = storage + count
            let length = ShortestFloatText.write(value, to: text)
            var plain = true
            for index in 0..<length where text[index] == UInt8(ascii: "e") {
                plain = false
                break
            }
            if plain {
                count += length
            } else {
                let nearest = Double(String(decoding: UnsafeBufferPointer(start: text, count: length), as: UTF8.self)) ?? Double(value)
                count += ShortestFloatText.write(nearest, to: text)
            }
        } else {
            needsSlowPath = true
            put(UInt8(ascii: "0"))
        }
        needsComma = true
    }

    /// RFC 3339 text of a timestamp, written in place (the same text as `rfc3339`).
    public mutating func timestamp(_ value: LeylineTimestamp) {
        separate()
        put(UInt8(ascii: "\""))
        let seconds = value.seconds
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = LeylineTimestamp.civil(fromDays: days)
        appendFixed(Int(year), width: 4)
        put(UInt8(ascii: "-"))
        appendFixed(month, width: 2)
        put(UInt8(ascii: "-"))
        appendFixed(day, width: 2)
        put(UInt8(ascii: "T"))
        appendFixed(secondOfDay / 3600, width: 2)
        put(UInt8(ascii: ":"))
        appendFixed(secondOfDay / 60 % 60, width: 2)
        put(UInt8(ascii: ":"))
        appendFixed(secondOfDay % 60, width: 2)
        appendFraction(value.nanos)
        put(UInt8(ascii: "Z"))
        put(UInt8(ascii: "\""))
        needsComma = true
    }

    /// Proto3 duration text (`"0.500s"`), written in place.
    public mutating func duration(_ value: LeylineDuration) {
        separate()
        put(UInt8(ascii: "\""))
        if value.seconds < 0 || value.nanos < 0 { put(UInt8(ascii: "-")) }
        appendDigits(value.seconds.magnitude)
        appendFraction(abs(value.nanos))
        put(UInt8(ascii: "s"))
        put(UInt8(ascii: "\""))
        needsComma = true
    }

    /// The lowest `width` digits of `value`, zero-padded, written from the right (divisions by
    /// the constant 10 only: a division by a power of ten computed at run time per digit was
    /// most of a timestamp's cost).
    private mutating func appendFixed(_ value: Int, width: Int) {
        reserve(width)
        var rest = value
        var position = count + width
        while position > count {
            position -= 1
            storage[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        count += width
    }

    /// 0, 3, 6 or 9 fraction digits, as `LeylineTimestamp.appendFraction`.
    private mutating func appendFraction(_ nanos: Int32) {
        guard nanos != 0 else { return }
        var value = Int(nanos)
        var width = 9
        if value % 1_000_000 == 0 { value /= 1_000_000; width = 3 } else if value % 1_000 == 0 { value /= 1_000; width = 6 }
        put(UInt8(ascii: "."))
        appendFixed(value, width: width)
    }

    public mutating func value<E: LeylineEnum>(_ value: E) {
        string(value.name)
    }

    /// A value already in its JSON form (an enum's quoted name, made once by its field).
    mutating func encoded(_ json: UnsafeBufferPointer<UInt8>) {
        separate()
        put(json)
        needsComma = true
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
                mapKey(key)
                json(members[key]!)
            }
            endObject()
        }
    }

    /// Key order of jansson's `JSON_SORT_KEYS` and our `JSONWriter`: bytewise UTF-8.
    static func byteOrder(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    // MARK: bytes

    private mutating func appendDigits(_ value: UInt64) {
        if value < 10 {
            put(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits = 0
        var rest = value
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        reserve(digits)
        rest = value
        for offset in stride(from: digits - 1, through: 0, by: -1) {
            storage[count + offset] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        count += digits
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Escapes as `JSONWriter` does: `\"`, `\\`, the short escapes, other control bytes and
    /// DEL as `\u00XX`; everything else (valid UTF-8) verbatim. Runs without escapes are
    /// copied in one piece.
    private mutating func appendString(_ value: String) {
        put(UInt8(ascii: "\""))
        // Native strings lend their bytes without a copy of the string (`withUTF8` needs a
        // mutable one: a retain and a release per string written).
        if value.utf8.withContiguousStorageIfAvailable({ appendEscaped($0) }) == nil {
            var value = value
            value.withUTF8 { appendEscaped($0) }
        }
        put(UInt8(ascii: "\""))
    }

    /// A string's bytes, escaped. The scan takes 8 bytes at a time (`mayNeedEscape`): only a
    /// word that holds a byte to escape, and the last few bytes, are looked at byte by byte.
    private mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        guard let base = utf8.baseAddress else { return }
        let length = utf8.count
        var start = 0
        var index = 0
        while index < length {
            let end: Int
            if length - index >= 8 {
                if !LeylineJSONWriter.mayNeedEscape(UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)) {
                    index += 8
                    continue
                }
                end = index + 8
            } else {
                end = length
            }
            while index < end {
                let byte = base[index]
                if byte < 0x20 || byte == 0x22 || byte == 0x5C || byte == 0x7F {
                    if index > start { put(UnsafeBufferPointer(start: base + start, count: index - start)) }
                    appendEscape(byte)
                    start = index + 1
                }
                index += 1
            }
        }
        if start == 0 {
            put(utf8)
        } else if start < length {
            put(UnsafeBufferPointer(start: base + start, count: length - start))
        }
    }

    /// Whether any of the 8 bytes of `word` is below 0x20, `"`, `\\` or DEL. Exact: the
    /// "has a zero byte" and "has a byte below n" tests report a word exactly when one of its
    /// bytes matches (which byte is found byte by byte). Bytes from 0x80 up (UTF-8) never match.
    @inline(__always) static func mayNeedEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func hasZero(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
        let control = (word &- ones &* 0x20) & ~word & highs
        return control | hasZero(word ^ (ones &* 0x22)) | hasZero(word ^ (ones &* 0x5C)) | hasZero(word ^ (ones &* 0x7F)) != 0
    }

    private mutating func appendEscape(_ byte: UInt8) {
        switch byte {
        case 0x22: put(92, 34)
        case 0x5C: put(92, 92)
        case 0x0A: put(92, UInt8(ascii: "n"))
        case 0x0D: put(92, UInt8(ascii: "r"))
        case 0x09: put(92, UInt8(ascii: "t"))
        case 0x08: put(92, UInt8(ascii: "b"))
        case 0x0C: put(92, UInt8(ascii: "f"))
        default:
            put(92, UInt8(ascii: "u"))
            put(48, 48)
            put(LeylineJSONWriter.hex[Int(byte >> 4)], LeylineJSONWriter.hex[Int(byte & 15)])
        }
    }
}
