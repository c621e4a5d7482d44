/// One field of a Leyline message, declared once: its JSON name and what every path does
/// with it — the direct writer and reader (the bus), Codable (jansson: HTTP bodies and the
/// reference path) and validation. A message lists its fields in one `LeylineFields` table
/// and every path walks that table, so a field cannot be in one path and missing from another.
public struct LeylineField<Message>: @unchecked Sendable {
    // @unchecked: the closures capture only key paths and immutable values, and a table is
    // built once (a `static let`) and never changed.
    typealias Container = KeyedDecodingContainer<LeylineCodingKey>

    let name: StaticString
    /// `name` as a String, made once (problems and Codable keys use it).
    let key: String
    let codingKey: LeylineCodingKey
    /// For a member of a `oneof`: the oneof's name (at most one member may be present).
    let oneof: String?
    /// Writes the key and the value, or nothing (an unset oneof member, a field omitted when empty).
    let write: (Message, inout LeylineJSONWriter) -> Void
    /// Reads the value (the reader stands after the key); nil when the message reads this field itself.
    let read: ((inout Message, inout LeylineJSONReader) throws(LeylineJSONError) -> Void)?
    let encode: (Message, inout KeyedEncodingContainer<LeylineCodingKey>) throws -> Void
    /// Decodes the value when present; nil when the message decodes this field itself.
    let decode: ((inout Message, Container) throws -> Void)?
    let validate: (Message, inout LeylineValidator) -> Void
    /// Sets this field of the first value to the second's (tests: one field at a time).
    let copy: (inout Message, Message) -> Void

    init(
        _ name: StaticString, oneof: String? = nil, write: @escaping (Message, inout LeylineJSONWriter) -> Void,
        read: ((inout Message, inout LeylineJSONReader) throws(LeylineJSONError) -> Void)?,
        encode: @escaping (Message, inout KeyedEncodingContainer<LeylineCodingKey>) throws -> Void,
        decode: ((inout Message, Container) throws -> Void)?, validate: @escaping (Message, inout LeylineValidator) -> Void,
        copy: @escaping (inout Message, Message) -> Void
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
        self.copy = copy
    }

    /// A field stored at `path`: always written (or omitted while `omitWhen` holds), absent
    /// or null input leaves the table's default. `rule` runs before the checks of `V`.
    static func field<V: LeylineFieldValue>(
        _ name: StaticString, _ path: WritableKeyPath<Message, V>, _ rule: LeylineRule<V>? = nil,
        omitWhen omit: ((V) -> Bool)? = nil
    ) -> LeylineField {
        let key = name.description
        let codingKey = LeylineCodingKey(key)
        return LeylineField(
            name,
            write: { message, writer in
                let value = message[keyPath: path]
                if let omit, omit(value) { return }
                writer.key(name)
                V.writeJSON(value, to: &writer)
            },
            read: { (message: inout Message, reader: inout LeylineJSONReader) throws(LeylineJSONError) in
                message[keyPath: path] = try V.readJSON(&reader)
            },
            encode: { message, container in
                let value = message[keyPath: path]
                if let omit, omit(value) { return }
                try container.encode(value, forKey: codingKey)
            },
            decode: { message, container in
                if let value = try container.decodeIfPresent(V.self, forKey: codingKey) { message[keyPath: path] = value }
            },
            validate: { message, validator in
                let value = message[keyPath: path]
                rule?.apply(value, key, &validator)
                V.check(value, key, &validator)
            },
            copy: { message, source in message[keyPath: path] = source[keyPath: path] })
    }

    /// A field the message reads and decodes itself (what it means depends on another
    /// field: a bus envelope's `payload` on its `message_type`); the table writes, encodes and
    /// checks it. `write` and `encode` get the value's turn after the key.
    static func custom(
        _ name: StaticString, write: @escaping (Message, inout LeylineJSONWriter) -> Void,
        encode: @escaping (Message, inout KeyedEncodingContainer<LeylineCodingKey>, LeylineCodingKey) throws -> Void,
        validate: @escaping (Message, inout LeylineValidator) -> Void = { _, _ in }, copy: @escaping (inout Message, Message) -> Void
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
        let value = { (message: Message) -> V? in message[keyPath: path].flatMap(extract) }
        return LeylineField(
            name, oneof: oneof,
            write: { message, writer in
                guard let value = value(message) else { return }
                writer.key(name)
                V.writeJSON(value, to: &writer)
            },
            read: { (message: inout Message, reader: inout LeylineJSONReader) throws(LeylineJSONError) in
                message[keyPath: path] = embed(try V.readJSON(&reader))
            },
            encode: { message, container in
                if let value = value(message) { try container.encode(value, forKey: codingKey) }
            },
            decode: { message, container in
                if let value = try container.decodeIfPresent(V.self, forKey: codingKey) { message[keyPath: path] = embed(value) }
            },
            validate: { message, validator in
                if let value = value(message) { V.check(value, key, &validator) }
            },
            copy: { message, source in
                if let value = value(source) { message[keyPath: path] = embed(value) }
            })
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
