internal import CJansson

/// Encodes `Encodable` values to JSON through a jansson tree: snake_case keys by default,
/// sorted keys on output, non-finite floats rejected with the field named.
public struct JanssonEncoder: Sendable {
    public var keyStrategy: JSONKeyStrategy
    public var pretty: Bool

    public init(keyStrategy: JSONKeyStrategy = .convertToSnakeCase, pretty: Bool = false) {
        self.keyStrategy = keyStrategy
        self.pretty = pretty
    }

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let node = try JanssonEncoderImpl.box(value, codingPath: [], options: keyStrategy)
        defer { esper_json_decref(node) }
        return JanssonDocument.dump(node, pretty: pretty)
    }

    /// `encode` and `encodeValue` of one value from one encoding (a document stored as it is
    /// and also composed into others: a run's config).
    public func encodeBoth<T: Encodable>(_ value: T) throws -> (json: [UInt8], value: JSONValue) {
        let node = try JanssonEncoderImpl.box(value, codingPath: [], options: keyStrategy)
        defer { esper_json_decref(node) }
        return (JanssonDocument.dump(node, pretty: pretty), JSONValue(borrowing: node))
    }

    /// The value as a `JSONValue` tree (for composing documents).
    public func encodeValue<T: Encodable>(_ value: T) throws -> JSONValue {
        let node = try JanssonEncoderImpl.box(value, codingPath: [], options: keyStrategy)
        defer { esper_json_decref(node) }
        return JSONValue(borrowing: node)
    }
}

final class JanssonEncoderImpl: Encoder {
    let codingPath: [any CodingKey]
    let options: JSONKeyStrategy
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    /// The encoded value, owned by this encoder until taken.
    var root: UnsafeMutablePointer<json_t>?
    /// Called with the finished value when this encoder is a `superEncoder`.
    var onFinish: ((UnsafeMutablePointer<json_t>) -> Void)?

    init(codingPath: [any CodingKey], options: JSONKeyStrategy) {
        self.codingPath = codingPath
        self.options = options
    }

    deinit {
        if let onFinish { onFinish(root ?? json_object()!) } else if let root { esper_json_decref(root) }
    }

    func take() -> UnsafeMutablePointer<json_t> {
        let value = root ?? json_object()!
        root = nil
        return value
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if root == nil || esper_json_typeof(root) != Int32(JSON_OBJECT.rawValue) {
            if let root { esper_json_decref(root) }
            root = json_object()
        }
        return KeyedEncodingContainer(KeyedEncoding<Key>(impl: self, object: root!, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if root == nil || esper_json_typeof(root) != Int32(JSON_ARRAY.rawValue) {
            if let root { esper_json_decref(root) }
            root = json_array()
        }
        return UnkeyedEncoding(impl: self, array: root!, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { SingleValueEncoding(impl: self) }

    fileprivate func setRoot(_ value: UnsafeMutablePointer<json_t>) {
        if let root { esper_json_decref(root) }
        root = value
    }

    static func path(_ codingPath: [any CodingKey], _ options: JSONKeyStrategy) -> String {
        JSONFieldPath.render(codingPath, snakeCase: options == .convertToSnakeCase)
    }

    static func real(_ value: Double, _ codingPath: [any CodingKey], _ options: JSONKeyStrategy) throws -> UnsafeMutablePointer<json_t> {
        guard value.isFinite, let node = json_real(value) else {
            throw JSONEncodingError(field: path(codingPath, options), message: "\(value) is not a finite number")
        }
        return node
    }

    /// Floats go out as the double closest to their shortest decimal form, so `Float(0.82)`
    /// prints as `0.82`, and reads back as the same float.
    static func real(_ value: Float, _ codingPath: [any CodingKey], _ options: JSONKeyStrategy) throws -> UnsafeMutablePointer<json_t> {
        guard value.isFinite else {
            throw JSONEncodingError(field: path(codingPath, options), message: "\(value) is not a finite number")
        }
        return try real(Double(value.description) ?? Double(value), codingPath, options)
    }

    /// A new jansson node for any encodable value (reference owned by the caller).
    static func box<T: Encodable>(_ value: T, codingPath: [any CodingKey], options: JSONKeyStrategy) throws -> UnsafeMutablePointer<json_t>
    {
        switch value {
        case let v as String: return JanssonDocument.makeString(v)
        case let v as Double: return try real(v, codingPath, options)
        case let v as Float: return try real(v, codingPath, options)
        case let v as Bool: return esper_json_boolean(v ? 1 : 0)
        case let v as Int: return json_integer(json_int_t(v))!
        case let v as Int64: return json_integer(json_int_t(v))!
        case let v as Int32: return json_integer(json_int_t(v))!
        case let v as UInt32: return json_integer(json_int_t(v))!
        case let v as UInt64:
            guard v <= UInt64(Int64.max) else {
                throw JSONEncodingError(field: path(codingPath, options), message: "\(v) exceeds 2^63-1")
            }
            return json_integer(json_int_t(v))!
        case let v as JSONValue:
            do { return try v.makeJansson(path: path(codingPath, options)) } catch { throw error }
        default:
            let encoder = JanssonEncoderImpl(codingPath: codingPath, options: options)
            try value.encode(to: encoder)
            return encoder.take()
        }
    }
}

private struct KeyedEncoding<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let impl: JanssonEncoderImpl
    let object: UnsafeMutablePointer<json_t>
    let codingPath: [any CodingKey]
    let convert: Bool

    init(impl: JanssonEncoderImpl, object: UnsafeMutablePointer<json_t>, codingPath: [any CodingKey]) {
        self.impl = impl
        self.object = object
        self.codingPath = codingPath
        self.convert = impl.options == .convertToSnakeCase && !DictionaryKeyProbe.isDictionaryKey(Key.self)
    }

    private func name(_ key: Key) -> String { convert ? KeyCase.snakeCase(key.stringValue) : key.stringValue }

    mutating func encodeNil(forKey key: Key) throws { JanssonDocument.set(object, name(key), json_null()!) }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), esper_json_boolean(value ? 1 : 0))
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), JanssonDocument.makeString(value))
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), try JanssonEncoderImpl.real(value, codingPath + [key], impl.options))
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), try JanssonEncoderImpl.real(value, codingPath + [key], impl.options))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), json_integer(json_int_t(value)))
    }
    mutating func encode(_ value: UInt32, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), json_integer(json_int_t(value)))
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        JanssonDocument.set(object, name(key), try JanssonEncoderImpl.box(value, codingPath: codingPath + [key], options: impl.options))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = json_object()!
        JanssonDocument.set(object, name(key), nested)
        return KeyedEncodingContainer(KeyedEncoding<NestedKey>(impl: impl, object: nested, codingPath: codingPath + [key]))
    }
    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = json_array()!
        JanssonDocument.set(object, name(key), nested)
        return UnkeyedEncoding(impl: impl, array: nested, codingPath: codingPath + [key])
    }
    mutating func superEncoder() -> any Encoder { superEncoder(named: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: name(key)) }
    private func superEncoder(named keyName: String) -> any Encoder {
        let encoder = JanssonEncoderImpl(codingPath: codingPath, options: impl.options)
        let object = self.object
        encoder.onFinish = { JanssonDocument.set(object, keyName, $0) }
        return encoder
    }
}

private struct UnkeyedEncoding: UnkeyedEncodingContainer {
    let impl: JanssonEncoderImpl
    let array: UnsafeMutablePointer<json_t>
    let codingPath: [any CodingKey]
    var count: Int { json_array_size(array) }

    private var nextKey: any CodingKey { IndexKey(count) }

    mutating func encodeNil() throws { json_array_append_new(array, json_null()!) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        json_array_append_new(array, try JanssonEncoderImpl.box(value, codingPath: codingPath + [nextKey], options: impl.options))
    }
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = json_object()!
        let path = codingPath + [nextKey]
        json_array_append_new(array, nested)
        return KeyedEncodingContainer(KeyedEncoding<NestedKey>(impl: impl, object: nested, codingPath: path))
    }
    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = json_array()!
        let path = codingPath + [nextKey]
        json_array_append_new(array, nested)
        return UnkeyedEncoding(impl: impl, array: nested, codingPath: path)
    }
    mutating func superEncoder() -> any Encoder {
        let encoder = JanssonEncoderImpl(codingPath: codingPath + [nextKey], options: impl.options)
        let array = self.array
        encoder.onFinish = { json_array_append_new(array, $0) }
        return encoder
    }
}

private struct SingleValueEncoding: SingleValueEncodingContainer {
    let impl: JanssonEncoderImpl
    var codingPath: [any CodingKey] { impl.codingPath }

    mutating func encodeNil() throws { impl.setRoot(json_null()!) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        impl.setRoot(try JanssonEncoderImpl.box(value, codingPath: codingPath, options: impl.options))
    }
}

/// An array index as a coding key (for paths such as `seed_states[2]`).
struct IndexKey: CodingKey {
    let intValue: Int?
    let stringValue: String
    init(_ index: Int) {
        intValue = index
        stringValue = "\(index)"
    }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.init(intValue) }
}
