/// A message's field table: the one place its fields are declared. Every codec walks it —
/// `write` and `read` (the direct JSON the bus uses), `encode` and `decode` (Codable, for
/// jansson), `validate` — so the paths cannot disagree about which fields exist.
///
/// Fields are listed in the order validation reports them; JSON output is in byte order of
/// the names (jansson's `JSON_SORT_KEYS`), sorted once here.
public final class LeylineFields<Message>: @unchecked Sendable {
    // @unchecked: immutable after init (see `LeylineField`).

    /// What absent fields are (proto3 zeros; `version` 0, which validation refuses).
    let defaults: Message
    /// In declaration order.
    let fields: [LeylineField<Message>]
    /// In byte order of their names: the order written and the index order of `table`.
    let sorted: [LeylineField<Message>]
    let table: LeylineFieldTable

    init(_ defaults: Message, _ fields: [LeylineField<Message>]) {
        self.defaults = defaults
        self.fields = fields
        sorted = fields.sorted { LeylineJSONWriter.byteOrder($0.key, $1.key) }
        precondition(Set(fields.map(\.key)).count == fields.count, "\(Message.self) names a field twice")
        table = LeylineFieldTable(sorted.map(\.name))
    }

    /// The JSON names, in declaration order.
    public var names: [String] { fields.map(\.key) }

    /// The index in `sorted` (and `table`) of the field called `name`.
    func index(of name: String) -> Int {
        guard let index = sorted.firstIndex(where: { $0.key == name }) else { preconditionFailure("\(Message.self) has no field \(name)") }
        return index
    }

    // MARK: direct JSON

    func write(_ message: Message, to writer: inout LeylineJSONWriter) {
        writer.beginObject()
        withUnsafePointer(to: message) { message in
            for field in sorted { field.write(message, &writer) }
        }
        writer.endObject()
    }

    func read(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Message {
        var message = defaults
        var members: [Int] = []
        try withUnsafeMutablePointer(to: &message) { (message) throws(LeylineJSONError) in
            var cursor = try reader.beginObject()
            while let index = try reader.nextField(table, &cursor) {
                let field = sorted[index]
                guard let read = field.read else { preconditionFailure("\(Message.self) reads \(field.key) itself") }
                try read(message, &reader)
                if field.oneof != nil { members.append(index) }
            }
        }
        if members.count > 1, let (oneof, present) = conflict(members) {
            // Named like the Codable path does: the second member in key order.
            throw reader.invalid(LeylineFields.oneofMessage(oneof, present), field: present[1])
        }
        return message
    }

    /// The first oneof with more than one member among `present` (indices in `sorted`), with
    /// the members' names in key order.
    private func conflict(_ present: [Int]) -> (String, [String])? {
        for index in present {
            let oneof = sorted[index].oneof!
            let members = present.filter { sorted[$0].oneof == oneof }.sorted().map { sorted[$0].key }
            if members.count > 1 { return (oneof, members) }
        }
        return nil
    }

    static func oneofMessage(_ oneof: String, _ members: [String]) -> String {
        "\(oneof) is a oneof: set only one of \(members.joined(separator: ", "))"
    }

    // MARK: Codable

    func encode(_ message: Message, to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: LeylineCodingKey.self)
        try withUnsafePointer(to: message) { message in
            for field in fields { try field.encode(message, &container) }
        }
    }

    /// Decodes every field the table decodes: plain fields first, then the oneofs (refusing
    /// two members of one), each absent or null field keeping its default.
    func decode(from decoder: any Decoder) throws -> Message {
        let container = try decoder.container(keyedBy: LeylineCodingKey.self)
        var message = defaults
        try withUnsafeMutablePointer(to: &message) { message in
            for field in fields where field.oneof == nil { try field.decode?(message, container) }
        }
        var present: [Int] = []
        for (index, field) in sorted.enumerated() where field.oneof != nil && container.contains(field.codingKey) {
            if try !container.decodeNil(forKey: field.codingKey) { present.append(index) }
        }
        if present.count > 1, let (oneof, members) = conflict(present) {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath + [LeylineCodingKey(members[1])],
                    debugDescription: LeylineFields.oneofMessage(oneof, members)))
        }
        try withUnsafeMutablePointer(to: &message) { message in
            for index in present { try sorted[index].decode?(message, container) }
        }
        return message
    }

    // MARK: validation

    func validate(_ message: Message, _ validator: inout LeylineValidator) {
        withUnsafePointer(to: message) { message in
            for field in fields { field.validate(message, &validator) }
        }
    }
}
