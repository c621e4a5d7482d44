internal import CJansson

/// Decodes `Decodable` values from JSON parsed by jansson. With `rejectUnknownKeys` (what
/// HTTP bodies use) a key the type never read is an error naming the key, so a typo in a
/// request is reported instead of silently ignored.
public struct JanssonDecoder: Sendable {
    public var keyStrategy: JSONKeyStrategy
    public var rejectUnknownKeys: Bool

    public init(keyStrategy: JSONKeyStrategy = .convertToSnakeCase, rejectUnknownKeys: Bool = false) {
        self.keyStrategy = keyStrategy
        self.rejectUnknownKeys = rejectUnknownKeys
    }

    /// Throws `JSONParseError` for text that is not JSON, `DecodingError` for the wrong shape,
    /// `JSONUnknownFieldsError` for unknown keys.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: some Collection<UInt8>) throws -> T {
        let document = try JanssonDocument.parse(bytes)
        return try decode(type, node: document.root)
    }

    public func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        let node = try value.makeJansson(path: "")
        defer { esper_json_decref(node) }
        return try decode(type, node: node)
    }

    private func decode<T: Decodable>(_ type: T.Type, node: UnsafeMutablePointer<json_t>) throws -> T {
        let tracker = rejectUnknownKeys ? KeyTracker() : nil
        let impl = JanssonDecoderImpl(node: node, codingPath: [], options: keyStrategy, tracker: tracker)
        let value = try impl.unbox(type, node: node, codingPath: [])
        if let tracker, !tracker.unknownFields.isEmpty {
            throw JSONUnknownFieldsError(fields: tracker.unknownFields)
        }
        return value
    }
}

/// Keys in the input that the target type does not have.
public struct JSONUnknownFieldsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let fields: [String]
    public var description: String { "unknown field\(fields.count == 1 ? "" : "s"): \(fields.joined(separator: ", "))" }
}

/// Records which keys of each decoded object were read.
final class KeyTracker {
    final class Record {
        let object: UnsafeMutablePointer<json_t>
        let path: String
        var read: Set<String> = []
        init(object: UnsafeMutablePointer<json_t>, path: String) {
            self.object = object
            self.path = path
        }
    }
    private var records: [Record] = []

    func record(_ object: UnsafeMutablePointer<json_t>, path: String) -> Record {
        let record = Record(object: object, path: path)
        records.append(record)
        return record
    }

    var unknownFields: [String] {
        var unknown: [String] = []
        var seen = Set<String>()
        for record in records {
            var iter = esper_json_object_iter(record.object)
            while let current = iter {
                let key = JanssonDocument.key(current)
                // The same object may be decoded twice (e.g. a superclass); a key read by any
                // of its decoders counts as known.
                let known = records.contains { $0.object == record.object && $0.read.contains(key) }
                let field = record.path.isEmpty ? key : "\(record.path).\(key)"
                if !known && seen.insert(field).inserted { unknown.append(field) }
                iter = esper_json_object_iter_next(record.object, current)
            }
        }
        return unknown.sorted()
    }
}

final class JanssonDecoderImpl: Decoder {
    let node: UnsafeMutablePointer<json_t>
    let codingPath: [any CodingKey]
    let options: JSONKeyStrategy
    let tracker: KeyTracker?
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: UnsafeMutablePointer<json_t>, codingPath: [any CodingKey], options: JSONKeyStrategy, tracker: KeyTracker?) {
        self.node = node
        self.codingPath = codingPath
        self.options = options
        self.tracker = tracker
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard esper_json_typeof(node) == Int32(JSON_OBJECT.rawValue) else {
            throw mismatch([String: JSONValue].self, node, codingPath)
        }
        return KeyedDecodingContainer(KeyedDecoding<Key>(impl: self, object: node, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard esper_json_typeof(node) == Int32(JSON_ARRAY.rawValue) else {
            throw mismatch([JSONValue].self, node, codingPath)
        }
        return UnkeyedDecoding(impl: self, array: node, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueDecoding(impl: self, node: node, codingPath: codingPath)
    }

    func path(_ codingPath: [any CodingKey]) -> String {
        JSONFieldPath.render(codingPath, snakeCase: options == .convertToSnakeCase)
    }

    func mismatch(_ expected: Any.Type, _ node: UnsafeMutablePointer<json_t>, _ codingPath: [any CodingKey]) -> DecodingError {
        DecodingError.typeMismatch(
            expected,
            .init(
                codingPath: codingPath,
                debugDescription: "expected \(JanssonDecoderImpl.describe(expected)), found \(JanssonDecoderImpl.kind(node))"))
    }

    static func kind(_ node: UnsafeMutablePointer<json_t>) -> String {
        switch esper_json_typeof(node) {
        case Int32(JSON_OBJECT.rawValue): "an object"
        case Int32(JSON_ARRAY.rawValue): "an array"
        case Int32(JSON_STRING.rawValue): "a string"
        case Int32(JSON_INTEGER.rawValue), Int32(JSON_REAL.rawValue): "a number"
        case Int32(JSON_TRUE.rawValue), Int32(JSON_FALSE.rawValue): "a boolean"
        default: "null"
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is Double.Type, is Float.Type: "a number"
        case is any FixedWidthInteger.Type: "an integer"
        case is [JSONValue].Type: "an array"
        default: "an object"
        }
    }

    func unbox<T: Decodable>(_ type: T.Type, node: UnsafeMutablePointer<json_t>, codingPath: [any CodingKey]) throws -> T {
        switch type {
        case is String.Type: return try unboxString(node, codingPath) as! T
        case is Double.Type: return try unboxDouble(node, codingPath) as! T
        case is Float.Type: return try unboxFloat(node, codingPath) as! T
        case is Bool.Type: return try unboxBool(node, codingPath) as! T
        case is Int.Type: return try unboxInteger(Int.self, node, codingPath) as! T
        case is Int64.Type: return try unboxInteger(Int64.self, node, codingPath) as! T
        case is Int32.Type: return try unboxInteger(Int32.self, node, codingPath) as! T
        case is UInt32.Type: return try unboxInteger(UInt32.self, node, codingPath) as! T
        case is UInt64.Type: return try unboxInteger(UInt64.self, node, codingPath) as! T
        case is JSONValue.Type: return JSONValue(borrowing: node) as! T
        default:
            return try T(from: JanssonDecoderImpl(node: node, codingPath: codingPath, options: options, tracker: tracker))
        }
    }

    func unboxString(_ node: UnsafeMutablePointer<json_t>, _ codingPath: [any CodingKey]) throws -> String {
        guard esper_json_typeof(node) == Int32(JSON_STRING.rawValue) else { throw mismatch(String.self, node, codingPath) }
        return JanssonDocument.string(node)
    }

    func unboxBool(_ node: UnsafeMutablePointer<json_t>, _ codingPath: [any CodingKey]) throws -> Bool {
        switch esper_json_typeof(node) {
        case Int32(JSON_TRUE.rawValue): return true
        case Int32(JSON_FALSE.rawValue): return false
        default: throw mismatch(Bool.self, node, codingPath)
        }
    }

    func unboxDouble(_ node: UnsafeMutablePointer<json_t>, _ codingPath: [any CodingKey]) throws -> Double {
        switch esper_json_typeof(node) {
        case Int32(JSON_REAL.rawValue): return json_real_value(node)
        case Int32(JSON_INTEGER.rawValue): return Double(json_integer_value(node))
        default: throw mismatch(Double.self, node, codingPath)
        }
    }

    func unboxFloat(_ node: UnsafeMutablePointer<json_t>, _ codingPath: [any CodingKey]) throws -> Float {
        let value = try unboxDouble(node, codingPath)
        let float = Float(value)
        guard float.isFinite else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: codingPath, debugDescription: "\(value) is out of range for a 32-bit float"))
        }
        return float
    }

    /// Integers: JSON integers in range; integral reals (`3.0`); for 64-bit types also a
    /// decimal string, as proto3 JSON writes them.
    func unboxInteger<I: FixedWidthInteger>(_ type: I.Type, _ node: UnsafeMutablePointer<json_t>, _ codingPath: [any CodingKey]) throws -> I
    {
        switch esper_json_typeof(node) {
        case Int32(JSON_INTEGER.rawValue):
            let raw = Int64(json_integer_value(node))
            guard let value = I(exactly: raw) else { throw outOfRange(I.self, "\(raw)", codingPath) }
            return value
        case Int32(JSON_REAL.rawValue):
            let raw = json_real_value(node)
            guard raw.rounded() == raw else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "expected an integer, found \(raw)"))
            }
            // 64-bit unsigned values stop at Int64.max, as they do for JSON integers (storage is signed).
            guard let value = I(exactly: raw), I.bitWidth < 64 || I.isSigned || raw < 0x1p63 else {
                throw outOfRange(I.self, "\(raw)", codingPath)
            }
            return value
        case Int32(JSON_STRING.rawValue) where I.bitWidth == 64:
            let text = JanssonDocument.string(node)
            guard let wide = Int64(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "\"\(text)\" is not a decimal integer"))
            }
            guard let value = I(exactly: wide) else { throw outOfRange(I.self, text, codingPath) }
            return value
        default:
            throw mismatch(I.self, node, codingPath)
        }
    }

    private func outOfRange<I: FixedWidthInteger>(_ type: I.Type, _ text: String, _ codingPath: [any CodingKey]) -> DecodingError {
        let upper = I.bitWidth == 64 && !I.isSigned ? "\(Int64.max)" : "\(I.max)"
        return DecodingError.dataCorrupted(
            .init(
                codingPath: codingPath,
                debugDescription: "\(text) is out of range (\(I.min)...\(upper))"))
    }
}

private struct KeyedDecoding<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let impl: JanssonDecoderImpl
    let object: UnsafeMutablePointer<json_t>
    let codingPath: [any CodingKey]
    let convert: Bool
    let record: KeyTracker.Record?

    init(impl: JanssonDecoderImpl, object: UnsafeMutablePointer<json_t>, codingPath: [any CodingKey]) {
        self.impl = impl
        self.object = object
        self.codingPath = codingPath
        self.convert = impl.options == .convertToSnakeCase && !DictionaryKeyProbe.isDictionaryKey(Key.self)
        self.record = impl.tracker?.record(object, path: impl.path(codingPath))
    }

    private func name(_ key: Key) -> String { convert ? KeyCase.snakeCase(key.stringValue) : key.stringValue }

    var allKeys: [Key] {
        var keys: [Key] = []
        var iter = esper_json_object_iter(object)
        while let current = iter {
            let raw = JanssonDocument.key(current)
            if let key = Key(stringValue: convert ? KeyCase.camelCase(raw) : raw) { keys.append(key) }
            iter = esper_json_object_iter_next(object, current)
        }
        return keys
    }

    func contains(_ key: Key) -> Bool {
        let name = name(key)
        record?.read.insert(name)
        return JanssonDocument.get(object, name) != nil
    }

    private func node(_ key: Key) throws -> UnsafeMutablePointer<json_t> {
        let name = name(key)
        record?.read.insert(name)
        guard let node = JanssonDocument.get(object, name) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "required field is missing"))
        }
        return node
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        esper_json_typeof(try node(key)) == Int32(JSON_NULL.rawValue)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try impl.unbox(type, node: try node(key), codingPath: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let child = JanssonDecoderImpl(node: try node(key), codingPath: codingPath + [key], options: impl.options, tracker: impl.tracker)
        return try child.container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let child = JanssonDecoderImpl(node: try node(key), codingPath: codingPath + [key], options: impl.options, tracker: impl.tracker)
        return try child.unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        let superNode = JanssonDocument.get(object, "super") ?? json_null()!
        return JanssonDecoderImpl(node: superNode, codingPath: codingPath, options: impl.options, tracker: impl.tracker)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        JanssonDecoderImpl(node: try node(key), codingPath: codingPath + [key], options: impl.options, tracker: impl.tracker)
    }
}

private struct UnkeyedDecoding: UnkeyedDecodingContainer {
    let impl: JanssonDecoderImpl
    let array: UnsafeMutablePointer<json_t>
    let codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { json_array_size(array) }
    var isAtEnd: Bool { currentIndex >= json_array_size(array) }

    init(impl: JanssonDecoderImpl, array: UnsafeMutablePointer<json_t>, codingPath: [any CodingKey]) {
        self.impl = impl
        self.array = array
        self.codingPath = codingPath
    }

    private mutating func next() throws -> (UnsafeMutablePointer<json_t>, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                JSONValue.self,
                .init(
                    codingPath: codingPath + [IndexKey(currentIndex)],
                    debugDescription: "array has no more elements"))
        }
        let element = json_array_get(array, currentIndex)!
        let path = codingPath + [IndexKey(currentIndex)]
        currentIndex += 1
        return (element, path)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return false }
        if esper_json_typeof(json_array_get(array, currentIndex)) == Int32(JSON_NULL.rawValue) {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (element, path) = try next()
        return try impl.unbox(type, node: element, codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (element, path) = try next()
        return try JanssonDecoderImpl(node: element, codingPath: path, options: impl.options, tracker: impl.tracker).container(
            keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (element, path) = try next()
        return try JanssonDecoderImpl(node: element, codingPath: path, options: impl.options, tracker: impl.tracker).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (element, path) = try next()
        return JanssonDecoderImpl(node: element, codingPath: path, options: impl.options, tracker: impl.tracker)
    }
}

private struct SingleValueDecoding: SingleValueDecodingContainer {
    let impl: JanssonDecoderImpl
    let node: UnsafeMutablePointer<json_t>
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { esper_json_typeof(node) == Int32(JSON_NULL.rawValue) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try impl.unbox(type, node: node, codingPath: codingPath) }
}
