/// One field of a Leyline message, declared once: its JSON name and what every path does
/// with it — the direct writer and reader (the bus), Codable (jansson: HTTP bodies and the
/// reference path) and validation. A message lists its fields in one `LeylineFields` table
/// and every path walks that table, so a field cannot be in one path and missing from another.
public final class LeylineField<Message>: @unchecked Sendable {
    // @unchecked: the closures capture only field offsets and immutable values, and a table
    // is built once (a `static let`) and never changed. A class, so walking a table copies no
    // closures. The closures take the message by pointer: the bus's hot paths (encode, decode,
    // validate) must not copy a message once per field.
    typealias Container = KeyedDecodingContainer<LeylineCodingKey>
    typealias Source = UnsafePointer<Message>
    typealias Target = UnsafeMutablePointer<Message>

    let name: StaticString
    /// `name` as a String, made once (problems and Codable keys use it).
    let key: String
    let codingKey: LeylineCodingKey
    /// For a member of a `oneof`: the oneof's name (at most one member may be present).
    let oneof: String?
    /// Writes the key and the value, or nothing (an unset oneof member, a field omitted when empty).
    let write: (Source, inout LeylineJSONWriter) -> Void
    /// Reads the value (the reader stands after the key); nil when the message reads this field itself.
    let read: ((Target, inout LeylineJSONReader) throws(LeylineJSONError) -> Void)?
    let encode: (Source, inout KeyedEncodingContainer<LeylineCodingKey>) throws -> Void
    /// Decodes the value when present; nil when the message decodes this field itself.
    let decode: ((Target, Container) throws -> Void)?
    let validate: (Source, inout LeylineValidator) -> Void
    /// Sets this field of the target to the source's.
    let copyValue: (Target, Source) -> Void
    /// A scalar stored field: what it holds and where (the table reads and writes it in place,
    /// see `LeylineFieldSlot`); `.other` for the rest, which go through the closures.
    let kind: LeylineFieldKind
    let offset: Int
    /// A scalar field's rule as the table runs it in place (`.none`: nothing to check);
    /// `.custom` for the rest, checked by `validate`.
    let rule: LeylineScalarRule
    /// An enum field's quoted names by stored byte (kind `.enumeration`).
    let enumText: LeylineEnumText?
    /// The type a `.value` field holds, or the element type of an `.array` field.
    let valueType: (any LeylineFieldValue.Type)?

    init(
        _ name: StaticString, oneof: String? = nil, write: @escaping (Source, inout LeylineJSONWriter) -> Void,
        read: ((Target, inout LeylineJSONReader) throws(LeylineJSONError) -> Void)?,
        encode: @escaping (Source, inout KeyedEncodingContainer<LeylineCodingKey>) throws -> Void,
        decode: ((Target, Container) throws -> Void)?, validate: @escaping (Source, inout LeylineValidator) -> Void,
        copy: @escaping (Target, Source) -> Void, kind: LeylineFieldKind = .other, offset: Int = 0,
        rule: LeylineScalarRule = .custom, enumText: LeylineEnumText? = nil, valueType: (any LeylineFieldValue.Type)? = nil
    ) {
        self.name = name
        key = name.description
        codingKey = LeylineCodingKey(key)
        self.oneof = oneof
        self.write = write
        self.read = read
        self.encode = encode
        self.decode = decode
        self.validate = validate
        copyValue = copy
        self.kind = kind
        self.offset = offset
        self.rule = rule
        self.enumText = enumText
        self.valueType = valueType
    }

    /// Sets this field of `target` to the one of `source` (tests: one field at a time).
    func copy(_ target: inout Message, _ source: Message) {
        withUnsafePointer(to: source) { source in withUnsafeMutablePointer(to: &target) { copyValue($0, source) } }
    }

    /// A field stored at `path`: always written (or omitted while `omitWhen` holds), absent
    /// or null input leaves the table's default. `rule` runs before the checks of `V`.
    static func field<V: LeylineFieldValue>(
        _ name: StaticString, _ path: WritableKeyPath<Message, V>, _ rule: LeylineRule<V>? = nil,
        omitWhen omit: ((V) -> Bool)? = nil
    ) -> LeylineField {
        let key = name.description
        let codingKey = LeylineCodingKey(key)
        let field = LeylineStoredField<Message, V>(path)
        let apply = rule?.apply
        // Omitted-when-empty fields keep their closures (the rule is per field). Enums have no
        // checks of their own (`LeylineFieldValue.check` is not theirs to override), so a
        // table checks an enum field's rule alone, in place.
        let enumText = omit == nil ? LeylineEnumText(V.self) : nil
        let kind = omit != nil ? .other : enumText != nil ? .enumeration : LeylineFieldKind.of(V.self)
        // Fields the table writes and checks through their type's in-place forms: with a rule
        // of their own they are checked by `validate` (the rule, then the type's checks).
        let scalarRule: LeylineScalarRule =
            switch kind {
            case .other: .custom
            case .value, .array, .labels, .floats: rule == nil ? .typeChecks : .custom
            default: rule?.scalar ?? .none
            }
        let valueType: (any LeylineFieldValue.Type)? =
            switch kind {
            case .value: V.self
            case .array: (V.self as? any LeylineArrayField.Type)?.elementType
            default: nil
            }
        let elementType = kind == .array ? valueType : nil
        return LeylineField(
            name,
            write: { message, writer in
                let value = field.address(message)
                if let omit, omit(value.pointee) { return }
                writer.key(name)
                V.writeJSON(value.pointee, to: &writer)
            },
            read: { (message: Target, reader: inout LeylineJSONReader) throws(LeylineJSONError) in
                field.set(message, try V.readJSON(&reader))
            },
            encode: { message, container in
                let value = field.address(message)
                if let omit, omit(value.pointee) { return }
                try container.encode(value.pointee, forKey: codingKey)
            },
            decode: { message, container in
                if let value = try container.decodeIfPresent(V.self, forKey: codingKey) { field.set(message, value) }
            },
            validate: { message, validator in
                let value = field.address(message)
                apply?(value.pointee, key, &validator)
                // An array with a rule of its own (`seed_states`) is then checked as one
                // without: element by element where it is stored, not through a copy of each.
                if let elementType {
                    elementType.checkArray(at: UnsafeRawPointer(value), key, &validator)
                } else {
                    V.check(value.pointee, key, &validator)
                }
            },
            copy: { message, source in field.set(message, field.get(source)) }, kind: kind, offset: field.offset,
            rule: scalarRule, enumText: enumText, valueType: valueType)
    }

    /// A field the message reads and decodes itself (what it means depends on another
    /// field: a bus envelope's `payload` on its `message_type`); the table writes, encodes and
    /// checks it. `write` and `encode` get the value's turn after the key.
    static func custom(
        _ name: StaticString, write: @escaping (Source, inout LeylineJSONWriter) -> Void,
        encode: @escaping (Source, inout KeyedEncodingContainer<LeylineCodingKey>, LeylineCodingKey) throws -> Void,
        validate: @escaping (Source, inout LeylineValidator) -> Void = { _, _ in }, copy: @escaping (Target, Source) -> Void
    ) -> LeylineField {
        let codingKey = LeylineCodingKey(name.description)
        return LeylineField(
            name,
            write: { message, writer in
                writer.key(name)
                write(message, &writer)
            },
            read: nil, encode: { message, container in try encode(message, &container, codingKey) }, decode: nil,
            validate: validate, copy: copy)
    }

    /// A member of the `oneof` held at `path`: written only when it is the member set, and
    /// at most one member may be present in the input (a `null` member counts as absent).
    static func member<V: LeylineFieldValue, Choice>(
        _ name: StaticString, of oneof: String, _ path: WritableKeyPath<Message, Choice?>, _ embed: @escaping (V) -> Choice,
        _ extract: @escaping (Choice) -> V?
    ) -> LeylineField {
        let key = name.description
        let codingKey = LeylineCodingKey(key)
        let field = LeylineStoredField<Message, Choice?>(path)
        let value = { (message: Source) -> V? in field.get(message).flatMap(extract) }
        return LeylineField(
            name, oneof: oneof,
            write: { message, writer in
                guard let value = value(message) else { return }
                writer.key(name)
                V.writeJSON(value, to: &writer)
            },
            read: { (message: Target, reader: inout LeylineJSONReader) throws(LeylineJSONError) in
                field.set(message, embed(try V.readJSON(&reader)))
            },
            encode: { message, container in
                if let value = value(message) { try container.encode(value, forKey: codingKey) }
            },
            decode: { message, container in
                if let value = try container.decodeIfPresent(V.self, forKey: codingKey) { field.set(message, embed(value)) }
            },
            validate: { message, validator in
                if let value = value(message) { V.check(value, key, &validator) }
            },
            copy: { message, source in
                if let value = value(source) { field.set(message, embed(value)) }
            })
    }
}

/// A stored property reached by its offset in the message, found once from its key path
/// (applying a key path per field and message cost more than the whole direct codec).
struct LeylineStoredField<Message, Value> {
    let offset: Int

    init(_ path: WritableKeyPath<Message, Value>) {
        guard let offset = MemoryLayout<Message>.offset(of: path) else {
            preconditionFailure("\(path) is not a stored property of \(Message.self)")
        }
        self.offset = offset
    }

    /// Where the value is, so the hot paths borrow it instead of copying it.
    @inline(__always) func address(_ message: UnsafePointer<Message>) -> UnsafePointer<Value> {
        (UnsafeRawPointer(message) + offset).assumingMemoryBound(to: Value.self)
    }

    @inline(__always) func get(_ message: UnsafePointer<Message>) -> Value {
        UnsafeRawPointer(message).load(fromByteOffset: offset, as: Value.self)
    }

    @inline(__always) func set(_ message: UnsafeMutablePointer<Message>, _ value: Value) {
        (UnsafeMutableRawPointer(message) + offset).assumingMemoryBound(to: Value.self).pointee = value
    }
}

/// Codable keys of table-driven messages: the field's JSON name.
struct LeylineCodingKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

/// The scalar types a field table reads and writes in place (their `LeylineFieldValue`
/// forms are one writer or reader call and they have no checks of their own); `.other` is
/// any other type. `.enumeration` (a `LeylineEnum`, `LeylineEnumText`) is written and
/// checked in place and read through the field's closure. The table also writes and checks
/// in place — and reads through the closure — `.value` (a message, a timestamp, a duration:
/// through the type's `writeJSON(at:)`/`check(at:)`), `.array` (an array, through its element
/// type's array forms), `.labels` (`[String: String]`) and `.floats` (`[String: Float]`).
enum LeylineFieldKind {
    case string, bool, uint32, uint64, float, double, enumeration, value, array, labels, floats, other

    static func of<V>(_ type: V.Type) -> LeylineFieldKind {
        if type == String.self { return .string }
        if type == Bool.self { return .bool }
        if type == UInt32.self { return .uint32 }
        if type == UInt64.self { return .uint64 }
        if type == Float.self { return .float }
        if type == Double.self { return .double }
        if type == [String: String].self { return .labels }
        if type == [String: Float].self { return .floats }
        // Only types whose conformance is their own (code made for them): a generic
        // container's witnesses would run unspecialised.
        if type is any LeylineMessage.Type || type == LeylineTimestamp.self || type == LeylineDuration.self { return .value }
        if type is any LeylineArrayField.Type { return .array }
        return .other
    }
}
