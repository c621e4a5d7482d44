public import EsperJSON

#if canImport(Glibc)
    import Glibc
#endif

/// Why the direct reader refused a document: `malformed` (not JSON, or JSON jansson would
/// refuse: bad UTF-8, duplicate keys, too deep, reals that overflow) or `invalid` (JSON of
/// the wrong shape for the contract). `path` names the field (`seed_states[2].stage`).
public struct LeylineJSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case malformed, invalid }
    public let kind: Kind
    public let path: String
    public let message: String
    /// Byte offset where reading stopped.
    public let offset: Int

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// Field names of one message type, in the order it writes them (sorted; see `LeylineFields`).
/// Tables are created once per type (`static let`) and live for the whole process; the
/// names sit in one flat buffer so matching a key costs no reference counting.
public final class LeylineFieldTable: @unchecked Sendable {
    let names: [StaticString]
    let count: Int
    private let offsets: UnsafeMutablePointer<Int>
    private let storage: UnsafeMutablePointer<UInt8>

    public init(_ names: [StaticString]) {
        precondition(names.count <= 64, "a field table holds at most 64 names")
        self.names = names
        count = names.count
        offsets = .allocate(capacity: names.count + 1)
        let total = names.reduce(0) { $0 + $1.utf8CodeUnitCount }
        storage = .allocate(capacity: max(total, 1))
        var offset = 0
        for (index, name) in names.enumerated() {
            offsets[index] = offset
            name.withUTF8Buffer { buffer in
                (storage + offset).initialize(from: buffer.baseAddress!, count: buffer.count)
            }
            offset += name.utf8CodeUnitCount
        }
        offsets[names.count] = offset
    }

    deinit {
        offsets.deallocate()
        storage.deallocate()
    }

    /// The index of the name equal to `key`, trying `hint` first (input written by us comes
    /// in table order, so the first comparison almost always hits).
    func index(of key: UnsafeRawBufferPointer, hint: Int) -> Int? {
        if hint < count && matches(hint, key) { return hint }
        for i in 0..<count where i != hint && matches(i, key) { return i }
        return nil
    }

    @inline(__always) private func matches(_ index: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let start = offsets[index]
        let length = offsets[index + 1] - start
        return length == key.count && (length == 0 || memcmp(storage + start, key.baseAddress!, length) == 0)
    }
}

/// The state of one object being read (its fields seen so far, for duplicate detection).
public struct LeylineObjectCursor {
    var first = true
    var seen: UInt64 = 0
    var hint = 0
    var unknownKeys: [String] = []
}

/// Reads Leyline values straight from JSON bytes with the same rules as `JanssonDecoder`
/// over jansson (proto3 defaults for absent or null fields, enums by name or number,
/// integral reals for integers, decimal strings for 64-bit integers, floats that must fit,
/// unknown keys recorded, duplicate keys refused) — without building a tree. Tests hold the
/// two paths to the same results.
public struct LeylineJSONReader {
    enum PathComponent {
        case none
        case field(StaticString)
        case key(String)
        case index(Int)
    }

    private let base: UnsafePointer<UInt8>
    private let end: Int
    var position = 0
    /// Fields the contract does not have, with their paths (the caller decides whether that
    /// is an error).
    public private(set) var unknownFields: [String] = []
    private var path: [PathComponent] = []

    init(_ buffer: UnsafeBufferPointer<UInt8>) {
        base = buffer.baseAddress ?? UnsafePointer(bitPattern: 1)!
        end = buffer.count
        path.reserveCapacity(8)
    }

    /// Runs `body` over `bytes` and checks nothing but whitespace follows the value.
    static func read<T>(
        _ bytes: some Collection<UInt8>, _ body: (inout LeylineJSONReader) throws(LeylineJSONError) -> T
    )
        throws(LeylineJSONError) -> (T, [String])
    {
        func run(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<(T, [String]), LeylineJSONError> {
            var reader = LeylineJSONReader(buffer)
            do throws(LeylineJSONError) {
                let value = try body(&reader)
                reader.skipWhitespace()
                guard reader.position == reader.end else {
                    throw reader.malformed("end of file expected")
                }
                return .success((value, reader.unknownFields))
            } catch {
                // A document that is not JSON at all is reported as such even when the shape
                // error came first (jansson parses everything before decoding anything).
                if error.kind == .invalid {
                    var checker = LeylineJSONReader(buffer)
                    if let syntax = checker.syntaxError() { return .failure(syntax) }
                }
                return .failure(error)
            }
        }
        let result = bytes.withContiguousStorageIfAvailable(run) ?? Array(bytes).withUnsafeBufferPointer(run)
        return try result.get()
    }

    /// The first syntax problem of the whole document, if any.
    private mutating func syntaxError() -> LeylineJSONError? {
        do throws(LeylineJSONError) {
            try skipValue()
            skipWhitespace()
            if position != end { throw malformed("end of file expected") }
            return nil
        } catch {
            return error
        }
    }

    // MARK: errors

    func renderedPath() -> String {
        var out = ""
        for component in path {
            switch component {
            case .none: continue
            case .field(let name):
                if !out.isEmpty { out += "." }
                out += name.description
            case .key(let key):
                if !out.isEmpty { out += "." }
                out += key
            case .index(let index): out += "[\(index)]"
            }
        }
        return out
    }

    func malformed(_ message: String) -> LeylineJSONError {
        LeylineJSONError(kind: .malformed, path: renderedPath(), message: message, offset: position)
    }

    func invalid(_ message: String) -> LeylineJSONError {
        LeylineJSONError(kind: .invalid, path: renderedPath(), message: message, offset: position)
    }

    /// An error about `field` of the object just read (e.g. a required member that is absent).
    func invalid(_ message: String, field: String) -> LeylineJSONError {
        let parent = renderedPath()
        return LeylineJSONError(kind: .invalid, path: parent.isEmpty ? field : parent + "." + field, message: message, offset: position)
    }

    /// Goes back to a value skipped earlier (at `offset`, under `field` of the current
    /// level); `endRevisit` returns to where reading stopped.
    mutating func beginRevisit(_ offset: Int, field: StaticString) -> Int {
        let resume = position
        position = offset
        path.append(.field(field))
        return resume
    }

    mutating func endRevisit(_ resume: Int) {
        path.removeLast()
        position = resume
    }

    private func mismatch(_ expected: String) -> LeylineJSONError {
        invalid("expected \(expected), found \(foundKind())")
    }

    private func foundKind() -> String {
        switch peek() {
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        default: "a number"
        }
    }

    // MARK: bytes

    @inline(__always) private func peek() -> UInt8 { position < end ? base[position] : 0 }

    @inline(__always) mutating func skipWhitespace() {
        while position < end {
            let byte = base[position]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    private mutating func expect(_ byte: UInt8, _ what: String) throws(LeylineJSONError) {
        skipWhitespace()
        guard peek() == byte else { throw malformed("'\(what)' expected") }
        position += 1
    }

    private mutating func literal(_ word: StaticString) throws(LeylineJSONError) {
        let length = word.utf8CodeUnitCount
        guard position + length <= end else { throw malformed("invalid token") }
        let matches = word.withUTF8Buffer { expected in
            (0..<length).allSatisfy { base[position + $0] == expected[$0] }
        }
        guard matches else { throw malformed("invalid token") }
        position += length
    }

    // MARK: objects and arrays

    /// Starts reading an object; `nextField` then yields the index of each known field.
    public mutating func beginObject() throws(LeylineJSONError) -> LeylineObjectCursor {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw mismatch("an object") }
        try enter()
        path.append(.none)
        return LeylineObjectCursor()
    }

    private mutating func enter() throws(LeylineJSONError) {
        position += 1
        if path.count + 1 > JSONLimits.maxDepth {
            throw malformed("nesting depth \(path.count + 1) exceeds the limit of \(JSONLimits.maxDepth)")
        }
    }

    /// The next field of `table` in this object, or nil at its end. Unknown keys are recorded
    /// and their values skipped; `null` values count as absent (proto3 JSON); a key given
    /// twice is refused (as jansson's `JSON_REJECT_DUPLICATES` does).
    public mutating func nextField(_ table: LeylineFieldTable, _ cursor: inout LeylineObjectCursor) throws(LeylineJSONError) -> Int? {
        while true {
            guard let key = try nextKey(&cursor) else { return nil }
            if let index = table.index(of: key, hint: cursor.hint) {
                let bit: UInt64 = 1 << UInt64(index)
                if cursor.seen & bit != 0 { throw malformed("duplicate object key '\(table.names[index])'") }
                cursor.seen |= bit
                cursor.hint = index + 1
                path[path.count - 1] = .field(table.names[index])
                if skipNull() { continue }
                return index
            }
            try unknownKey(key, &cursor)
        }
    }

    /// Reads the key and colon of the next member; nil at the end of the object.
    private mutating func nextKey(_ cursor: inout LeylineObjectCursor) throws(LeylineJSONError) -> UnsafeRawBufferPointer? {
        skipWhitespace()
        if cursor.first {
            cursor.first = false
            if peek() == UInt8(ascii: "}") {
                position += 1
                path.removeLast()
                return nil
            }
        } else {
            switch peek() {
            case UInt8(ascii: "}"):
                position += 1
                path.removeLast()
                return nil
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            default:
                throw malformed("'}' expected")
            }
        }
        guard peek() == UInt8(ascii: "\"") else { throw malformed("string or '}' expected") }
        let key = try rawString()
        try expect(UInt8(ascii: ":"), ":")
        skipWhitespace()
        return key
    }

    /// Unescaped string bytes (allocated only when a string has escapes).
    private var scratch: ScratchBuffer?

    /// A string token's bytes. Without escapes they point into the input; with escapes into
    /// a scratch buffer valid until the next string is read.
    private mutating func rawString() throws(LeylineJSONError) -> UnsafeRawBufferPointer {
        position += 1  // opening quote
        let start = position
        var ascii = true
        while position < end {
            let byte = base[position]
            if byte == UInt8(ascii: "\"") {
                let bytes = UnsafeRawBufferPointer(start: base + start, count: position - start)
                position += 1
                if !ascii, String(validating: bytes, as: UTF8.self) == nil { throw malformed("invalid UTF-8 in string") }
                return bytes
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw malformed("control character 0x\(String(byte, radix: 16)) in string") }
            if byte >= 0x80 { ascii = false }
            position += 1
        }
        guard position < end else { throw malformed("premature end of input in string") }
        if scratch == nil { scratch = ScratchBuffer() }
        let scratch = self.scratch!
        scratch.reset()
        scratch.append(UnsafeRawBufferPointer(start: base + start, count: position - start))
        while true {
            guard position < end else { throw malformed("premature end of input in string") }
            let byte = base[position]
            if byte == UInt8(ascii: "\"") { position += 1; break }
            if byte < 0x20 { throw malformed("control character 0x\(String(byte, radix: 16)) in string") }
            if byte != UInt8(ascii: "\\") {
                scratch.append(byte)
                position += 1
                continue
            }
            position += 1
            guard position < end else { throw malformed("premature end of input in string") }
            let escape = base[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
            case UInt8(ascii: "b"): scratch.append(0x08)
            case UInt8(ascii: "f"): scratch.append(0x0C)
            case UInt8(ascii: "n"): scratch.append(0x0A)
            case UInt8(ascii: "r"): scratch.append(0x0D)
            case UInt8(ascii: "t"): scratch.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800...0xDBFF).contains(scalar) {
                    guard position + 1 < end, base[position] == UInt8(ascii: "\\"), base[position + 1] == UInt8(ascii: "u") else {
                        throw malformed("invalid Unicode '\\u\(String(scalar, radix: 16))'")
                    }
                    position += 2
                    let low = try hex4()
                    guard (0xDC00...0xDFFF).contains(low) else { throw malformed("invalid Unicode '\\u\(String(low, radix: 16))'") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw malformed("invalid Unicode '\\u\(String(scalar, radix: 16))'")
                }
                for byte in String(Character(Unicode.Scalar(scalar)!)).utf8 { scratch.append(byte) }
            default:
                throw malformed("invalid escape")
            }
        }
        guard String(validating: scratch.bytes, as: UTF8.self) != nil else { throw malformed("invalid UTF-8 in string") }
        return scratch.bytes
    }

    private mutating func hex4() throws(LeylineJSONError) -> UInt32 {
        guard position + 4 <= end else { throw malformed("invalid escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = base[position]
            let digit: UInt32
            switch byte {
            case 48...57: digit = UInt32(byte - 48)
            case 65...70: digit = UInt32(byte - 55)
            case 97...102: digit = UInt32(byte - 87)
            default: throw malformed("invalid escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }

    private mutating func unknownKey(_ key: UnsafeRawBufferPointer, _ cursor: inout LeylineObjectCursor) throws(LeylineJSONError) {
        guard !key.contains(0) else { throw malformed("NUL byte in object key not supported") }
        let name = String(decoding: key, as: UTF8.self)
        if cursor.unknownKeys.contains(name) { throw malformed("duplicate object key '\(name)'") }
        cursor.unknownKeys.append(name)
        path[path.count - 1] = .key(name)
        unknownFields.append(renderedPath())
        try skipValue()
    }

    /// Starts reading an array; `nextElement` then says whether another element follows.
    public mutating func beginArray() throws(LeylineJSONError) -> LeylineArrayCursor {
        skipWhitespace()
        guard peek() == UInt8(ascii: "[") else { throw mismatch("an array") }
        try enter()
        path.append(.none)
        return LeylineArrayCursor()
    }

    public mutating func nextElement(_ cursor: inout LeylineArrayCursor) throws(LeylineJSONError) -> Bool {
        skipWhitespace()
        if cursor.index < 0 {
            cursor.index = 0
            if peek() == UInt8(ascii: "]") {
                position += 1
                path.removeLast()
                return false
            }
        } else {
            switch peek() {
            case UInt8(ascii: "]"):
                position += 1
                path.removeLast()
                return false
            case UInt8(ascii: ","):
                position += 1
                cursor.index += 1
            default:
                throw malformed("']' expected")
            }
        }
        path[path.count - 1] = .index(cursor.index)
        return true
    }

    private mutating func skipNull() -> Bool {
        guard peek() == UInt8(ascii: "n"), position + 4 <= end, base[position + 1] == UInt8(ascii: "u"),
            base[position + 2] == UInt8(ascii: "l"), base[position + 3] == UInt8(ascii: "l")
        else { return false }
        position += 4
        return true
    }

    // MARK: any value

    /// Skips one value, checking it as strictly as jansson would parse it.
    mutating func skipValue() throws(LeylineJSONError) {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            try enter()
            path.append(.none)
            var keys = Set<[UInt8]>()
            var cursor = LeylineObjectCursor()
            while let key = try nextKey(&cursor) {
                guard !key.contains(0) else { throw malformed("NUL byte in object key not supported") }
                guard keys.insert(Array(key)).inserted else {
                    throw malformed("duplicate object key '\(String(decoding: key, as: UTF8.self))'")
                }
                try skipValue()
            }
        case UInt8(ascii: "["):
            var cursor = try beginArray()
            while try nextElement(&cursor) { try skipValue() }
        case UInt8(ascii: "\""):
            _ = try rawString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    /// Any value as a `JSONValue` (Struct fields, unspecified payloads).
    public mutating func json() throws(LeylineJSONError) -> JSONValue {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            try enter()
            path.append(.none)
            var members: [String: JSONValue] = [:]
            var cursor = LeylineObjectCursor()
            while let key = try nextKey(&cursor) {
                guard !key.contains(0) else { throw malformed("NUL byte in object key not supported") }
                let name = String(decoding: key, as: UTF8.self)
                guard members[name] == nil else { throw malformed("duplicate object key '\(name)'") }
                path[path.count - 1] = .key(name)
                members[name] = try json()
            }
            return .object(members)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            var cursor = try beginArray()
            while try nextElement(&cursor) { items.append(try json()) }
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(try stringToken())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default:
            switch try number() {
            case .integer(let i): return .int(i)
            case .real(let d): return .double(d)
            }
        }
    }

    // MARK: numbers

    enum Number {
        case integer(Int64)
        case real(Double)
    }

    private static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    /// A number token: integers as Int64 (beyond it, as a real: the field then refuses it),
    /// reals as the correctly rounded double (exact fast path when the mantissa
    /// has at most 15 digits and the exponent is small, else the standard library parser).
    mutating func number() throws(LeylineJSONError) -> Number {
        skipWhitespace()
        let start = position
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            position += 1
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var significant = 0
        var isReal = false
        var exponent = 0
        let first = peek()
        guard first >= 48 && first <= 57 else { throw malformed("invalid token") }
        if first == 48 {
            position += 1
            digits = 1
        } else {
            while position < end, base[position] >= 48 && base[position] <= 57 {
                if significant < 19 {
                    mantissa = mantissa * 10 + UInt64(base[position] - 48)
                    significant += 1
                } else {
                    exponent += 1
                    significant += 1
                }
                digits += 1
                position += 1
            }
        }
        if peek() == UInt8(ascii: ".") {
            isReal = true
            position += 1
            var fraction = 0
            while position < end, base[position] >= 48 && base[position] <= 57 {
                if mantissa == 0 && base[position] == 48 {
                    exponent -= 1
                } else if significant < 19 {
                    mantissa = mantissa * 10 + UInt64(base[position] - 48)
                    significant += 1
                    exponent -= 1
                } else {
                    significant += 1
                }
                fraction += 1
                position += 1
            }
            guard fraction > 0 else { throw malformed("invalid token") }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isReal = true
            position += 1
            var exponentNegative = false
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") {
                exponentNegative = peek() == UInt8(ascii: "-")
                position += 1
            }
            var value = 0
            var count = 0
            while position < end, base[position] >= 48 && base[position] <= 57 {
                if value < 100_000 { value = value * 10 + Int(base[position] - 48) }
                count += 1
                position += 1
            }
            guard count > 0 else { throw malformed("invalid token") }
            exponent += exponentNegative ? -value : value
        }
        if !isReal && significant <= 19 && mantissa <= (negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)) {
            return .integer(negative ? Int64(truncatingIfNeeded: 0 &- mantissa) : Int64(mantissa))
        }
        // An integer beyond int64 is still valid JSON: it is read as a real (as the jansson
        // path does), so the field that cannot hold it says so (invalid, not malformed).
        if significant <= 15 && exponent >= -22 && exponent <= 22 {
            var value = Double(mantissa)
            value = exponent >= 0 ? value * LeylineJSONReader.powersOfTen[exponent] : value / LeylineJSONReader.powersOfTen[-exponent]
            return .real(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(start: base + start, count: position - start), as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw malformed("real number overflow") }
        return .real(value)
    }

    // MARK: typed scalars

    public mutating func string() throws(LeylineJSONError) -> String {
        skipWhitespace()
        guard peek() == UInt8(ascii: "\"") else { throw mismatch("a string") }
        return try stringToken()
    }

    private mutating func stringToken() throws(LeylineJSONError) -> String {
        let bytes = try rawString()
        return String(decoding: bytes, as: UTF8.self)
    }

    public mutating func bool() throws(LeylineJSONError) -> Bool {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: throw mismatch("a boolean")
        }
    }

    public mutating func double() throws(LeylineJSONError) -> Double {
        skipWhitespace()
        let byte = peek()
        guard byte == UInt8(ascii: "-") || (byte >= 48 && byte <= 57) else { throw mismatch("a number") }
        switch try number() {
        case .integer(let i): return Double(i)
        case .real(let d): return d
        }
    }

    public mutating func float() throws(LeylineJSONError) -> Float {
        let value = try double()
        let float = Float(value)
        guard float.isFinite else { throw invalid("\(value) is out of range for a 32-bit float") }
        return float
    }

    public mutating func uint32() throws(LeylineJSONError) -> UInt32 { try integer(UInt32.self) }
    public mutating func uint64() throws(LeylineJSONError) -> UInt64 { try integer(UInt64.self) }
    public mutating func int64() throws(LeylineJSONError) -> Int64 { try integer(Int64.self) }

    /// Integers in range; integral reals (`3.0`); for 64-bit types also decimal strings
    /// (proto3 JSON writes uint64 that way).
    private mutating func integer<I: FixedWidthInteger>(_ type: I.Type) throws(LeylineJSONError) -> I {
        skipWhitespace()
        let byte = peek()
        if byte == UInt8(ascii: "\"") && I.bitWidth == 64 {
            let text = try stringToken()
            guard let wide = Int64(text) else { throw invalid("\"\(text)\" is not a decimal integer") }
            guard let value = I(exactly: wide) else { throw outOfRange(I.self, text) }
            return value
        }
        guard byte == UInt8(ascii: "-") || (byte >= 48 && byte <= 57) else { throw mismatch("an integer") }
        switch try number() {
        case .integer(let raw):
            guard let value = I(exactly: raw) else { throw outOfRange(I.self, "\(raw)") }
            return value
        case .real(let raw):
            guard raw.rounded() == raw else { throw invalid("expected an integer, found \(raw)") }
            guard let value = I(exactly: raw) else { throw outOfRange(I.self, "\(raw)") }
            return value
        }
    }

    private func outOfRange<I: FixedWidthInteger>(_ type: I.Type, _ text: String) -> LeylineJSONError {
        let upper = I.bitWidth == 64 && !I.isSigned ? "\(Int64.max)" : "\(I.max)"
        return invalid("\(text) is out of range (\(I.min)...\(upper))")
    }

    /// An enum by full name or by number.
    public mutating func value<E: LeylineEnum>(_ type: E.Type) throws(LeylineJSONError) -> E {
        skipWhitespace()
        let byte = peek()
        if byte == UInt8(ascii: "\"") {
            let raw = try rawString()
            for (index, name) in E.protoNames.enumerated() where name.utf8.count == raw.count {
                var name = name
                if name.withUTF8({ memcmp($0.baseAddress!, raw.baseAddress!, raw.count) == 0 }) { return E(rawValue: Int32(index))! }
            }
            throw invalid(E.unknownValueMessage("'\(String(decoding: raw, as: UTF8.self))'"))
        }
        guard byte == UInt8(ascii: "-") || (byte >= 48 && byte <= 57) else {
            throw invalid("expected a \(E.self) name (a string) or its number")
        }
        let number: Int64
        switch try self.number() {
        case .integer(let i): number = i
        case .real(let d):
            guard d.rounded() == d, let i = Int64(exactly: d) else { throw invalid("expected a \(E.self) name (a string) or its number") }
            number = i
        }
        guard let value = E(number: number) else { throw invalid(E.unknownValueMessage("\(number)")) }
        return value
    }

    public mutating func timestamp() throws(LeylineJSONError) -> LeylineTimestamp {
        let text = try string()
        do {
            return try LeylineTimestamp(rfc3339: text)
        } catch {
            throw invalid(error.description)
        }
    }

    public mutating func duration() throws(LeylineJSONError) -> LeylineDuration {
        let text = try string()
        do {
            return try LeylineDuration(text: text)
        } catch {
            throw invalid(error.description)
        }
    }

    public mutating func bytes() throws(LeylineJSONError) -> LeylineBytes {
        let text = try string()
        guard let decoded = Base64.decode(text) else { throw invalid("not standard padded base64") }
        return LeylineBytes(decoded)
    }

    // MARK: containers

    /// A map field's object (`LeylineFieldValue` conformance of `Dictionary`).
    public mutating func map<T: LeylineFieldValue>(of type: T.Type) throws(LeylineJSONError) -> [String: T] {
        var map: [String: T] = [:]
        var cursor = try beginObject()
        while let key = try mapKey(&cursor, into: map) { map[key] = try T.readJSON(&self) }
        return map
    }

    /// A repeated field's array (`LeylineFieldValue` conformance of `Array`).
    public mutating func array<T: LeylineFieldValue>(of type: T.Type) throws(LeylineJSONError) -> [T] {
        var items: [T] = []
        var cursor = try beginArray()
        while try nextElement(&cursor) { items.append(try T.readJSON(&self)) }
        return items
    }

    private mutating func mapKey<V>(_ cursor: inout LeylineObjectCursor, into map: [String: V]) throws(LeylineJSONError) -> String? {
        guard let raw = try nextKey(&cursor) else { return nil }
        guard !raw.contains(0) else { throw malformed("NUL byte in object key not supported") }
        let key = String(decoding: raw, as: UTF8.self)
        guard map[key] == nil else { throw malformed("duplicate object key '\(key)'") }
        path[path.count - 1] = .key(key)
        return key
    }
}

/// A growable byte buffer whose address stays valid until the next `reset`, so the reader can
/// hand out a view of an unescaped string without copying it again.
final class ScratchBuffer {
    private var storage = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 1)
    private var count = 0

    deinit { storage.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }

    func reset() { count = 0 }

    func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        reserve(bytes.count)
        UnsafeMutableRawBufferPointer(rebasing: storage[count..<(count + bytes.count)]).copyMemory(from: bytes)
        count += bytes.count
    }

    private func reserve(_ extra: Int) {
        guard count + extra > storage.count else { return }
        let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: max(storage.count * 2, count + extra), alignment: 1)
        grown.copyMemory(from: UnsafeRawBufferPointer(rebasing: storage[0..<count]))
        storage.deallocate()
        storage = grown
    }
}

public struct LeylineArrayCursor {
    var index = -1
}
