internal import CJansson

/// A JSON document as a Swift value. Objects are unordered here; encoding sorts keys so the
/// output is byte-deterministic.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses UTF-8 JSON text (any value at the top level).
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        let document = try JanssonDocument.parse(bytes)
        let value = JSONValue(borrowing: document.root)
        return document.integersReadAsReals ? value.restoringExactIntegers() : value
    }

    /// After a document was read with every integer as a real: the integral reals a double
    /// holds exactly become integers again, so only the too-big ones stand out to a validator.
    private func restoringExactIntegers() -> JSONValue {
        switch self {
        case .double(let number) where number.rounded() == number && abs(number) <= 9_007_199_254_740_992:
            return .int(Int64(number))
        case .array(let items): return .array(items.map { $0.restoringExactIntegers() })
        case .object(let fields): return .object(fields.mapValues { $0.restoringExactIntegers() })
        default: return self
        }
    }

    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Compact text with sorted keys. Non-finite doubles cannot be represented in JSON and are
    /// rejected.
    public func serialized(pretty: Bool = false) throws(JSONEncodingError) -> [UInt8] {
        let node = try makeJansson(path: "")
        defer { esper_json_decref(node) }
        return JanssonDocument.dump(node, pretty: pretty)
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var intValue: Int64? { if case .int(let i) = self { i } else { nil } }
    public var doubleValue: Double? {
        switch self {
        case .double(let d): d
        case .int(let i): Double(i)
        default: nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { b } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }

    /// Copies a jansson tree into Swift values (the caller keeps its reference).
    init(borrowing node: UnsafeMutablePointer<json_t>) {
        switch esper_json_typeof(node) {
        case Int32(JSON_OBJECT.rawValue):
            var members: [String: JSONValue] = [:]
            var iter = esper_json_object_iter(node)
            while let current = iter {
                let key = JanssonDocument.key(current)
                members[key] = JSONValue(borrowing: esper_json_object_iter_value(current))
                iter = esper_json_object_iter_next(node, current)
            }
            self = .object(members)
        case Int32(JSON_ARRAY.rawValue):
            let count = json_array_size(node)
            var items: [JSONValue] = []
            items.reserveCapacity(count)
            for i in 0..<count { items.append(JSONValue(borrowing: json_array_get(node, i))) }
            self = .array(items)
        case Int32(JSON_STRING.rawValue):
            self = .string(JanssonDocument.string(node))
        case Int32(JSON_INTEGER.rawValue):
            self = .int(Int64(json_integer_value(node)))
        case Int32(JSON_REAL.rawValue):
            self = .double(json_real_value(node))
        case Int32(JSON_TRUE.rawValue):
            self = .bool(true)
        case Int32(JSON_FALSE.rawValue):
            self = .bool(false)
        default:
            self = .null
        }
    }

    /// A new jansson tree (reference owned by the caller).
    func makeJansson(path: String) throws(JSONEncodingError) -> UnsafeMutablePointer<json_t> {
        switch self {
        case .null: return json_null()!
        case .bool(let b): return esper_json_boolean(b ? 1 : 0)
        case .int(let i): return json_integer(json_int_t(i))!
        case .double(let d):
            guard let real = json_real(d) else {
                throw JSONEncodingError(field: path, message: "\(d) is not a finite number")
            }
            return real
        case .string(let s): return JanssonDocument.makeString(s)
        case .array(let items):
            let array = json_array()!
            for (index, item) in items.enumerated() {
                do {
                    json_array_append_new(array, try item.makeJansson(path: "\(path)[\(index)]"))
                } catch {
                    esper_json_decref(array)
                    throw error
                }
            }
            return array
        case .object(let members):
            let object = json_object()!
            for (key, value) in members {
                do {
                    let child = try value.makeJansson(path: path.isEmpty ? key : "\(path).\(key)")
                    JanssonDocument.set(object, key, child)
                } catch {
                    esper_json_decref(object)
                    throw error
                }
            }
            return object
        }
    }
}

extension JSONValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        if let janssonDecoder = decoder as? JanssonDecoderImpl {
            self = JSONValue(borrowing: janssonDecoder.node)
            return
        }
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .int(i)
        } else if let d = try? container.decode(Double.self) {
            self = .double(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .int(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}
