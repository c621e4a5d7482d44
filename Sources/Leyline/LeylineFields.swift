/// A message's field table: the one place its fields are declared. Every codec walks it —
/// `write` and `read` (the direct JSON the bus uses), `encode` and `decode` (Codable, for
/// jansson), `validate` — so the paths cannot disagree about which fields exist.
///
/// Fields are listed in the order validation reports them; JSON output is in byte order of
/// the names (jansson's `JSON_SORT_KEYS`), sorted once here.
///
/// The bus's paths (`write`, `read`, `validate`) walk `LeylineFieldSlot`s made once here, not
/// the field objects: a scalar field (string, bool, integer, float) is written and read in
/// place at its offset by a switch, and its key bytes (`"name":`) are copied in one piece, so
/// such a field costs what a hand-written `w.key("name"); w.float(x)` did — no closure call and
/// no reference counting per field. Other fields (messages, arrays, maps, enums, oneof members,
/// custom fields) call the field's closures.
public final class LeylineFields<Message>: @unchecked Sendable {
    // @unchecked: immutable after init (see `LeylineField`).

    /// What absent fields are (proto3 zeros; `version` 0, which validation refuses).
    let defaults: Message
    /// In declaration order.
    let fields: [LeylineField<Message>]
    /// In byte order of their names: the order written and the index order of `table`.
    let sorted: [LeylineField<Message>]
    let table: LeylineFieldTable
    /// `sorted` and `fields` as slots, and every key's `"name":` bytes; one allocation each,
    /// owned by the table (the slots hold their fields unowned: `sorted` keeps them alive).
    private let sortedSlots: UnsafeMutableBufferPointer<LeylineFieldSlot<Message>>
    private let declaredSlots: UnsafeMutableBufferPointer<LeylineFieldSlot<Message>>
    private let keyBytes: UnsafeMutableBufferPointer<UInt8>

    init(_ defaults: Message, _ fields: [LeylineField<Message>]) {
        self.defaults = defaults
        self.fields = fields
        sorted = fields.sorted { LeylineJSONWriter.byteOrder($0.key, $1.key) }
        precondition(Set(fields.map(\.key)).count == fields.count, "\(Message.self) names a field twice")
        table = LeylineFieldTable(sorted.map(\.name))
        keyBytes = .allocate(capacity: sorted.reduce(0) { $0 + $1.name.utf8CodeUnitCount + 3 })
        var keys: [ObjectIdentifier: UnsafeBufferPointer<UInt8>] = [:]
        var end = 0
        for field in sorted {
            let start = end
            for byte in [UInt8(ascii: "\"")] + Array(field.key.utf8) + [UInt8(ascii: "\""), UInt8(ascii: ":")] {
                keyBytes[end] = byte
                end += 1
            }
            keys[ObjectIdentifier(field)] = UnsafeBufferPointer(rebasing: keyBytes[start..<end])
        }
        sortedSlots = .allocate(capacity: sorted.count)
        _ = sortedSlots.initialize(from: sorted.map { LeylineFieldSlot($0, key: keys[ObjectIdentifier($0)]!) })
        declaredSlots = .allocate(capacity: fields.count)
        _ = declaredSlots.initialize(from: fields.map { LeylineFieldSlot($0, key: keys[ObjectIdentifier($0)]!) })
    }

    deinit {
        sortedSlots.deallocate()
        declaredSlots.deallocate()
        keyBytes.deallocate()
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
        withUnsafePointer(to: message) { write(at: $0, to: &writer) }
    }

    /// Writes the message where it is stored (nested messages and arrays of them too: see
    /// `LeylineFieldValue.writeJSON(at:to:)`).
    func write(at message: UnsafePointer<Message>, to writer: inout LeylineJSONWriter) {
        writer.beginObject()
        let base = UnsafeRawPointer(message)
        for slot in UnsafeBufferPointer(sortedSlots) {
            let value = base + slot.offset
            if slot.kind == .other {
                slot.field.write(message, &writer)
                continue
            }
            writer.key(slot.key)
            switch slot.kind {
            case .string: writer.string(value.assumingMemoryBound(to: String.self).pointee)
            case .bool: writer.bool(value.load(as: Bool.self))
            case .uint32: writer.unsigned(value.load(as: UInt32.self))
            case .uint64: writer.unsigned(value.load(as: UInt64.self))
            case .float: writer.float(value.load(as: Float.self))
            case .double: writer.double(value.load(as: Double.self))
            case .enumeration: writer.encoded(slot.enumText.unsafelyUnwrapped.json(value.load(as: UInt8.self)))
            case .value: slot.valueType.unsafelyUnwrapped.writeJSON(at: value, to: &writer)
            case .array: slot.valueType.unsafelyUnwrapped.writeJSONArray(at: value, to: &writer)
            case .labels: LeylineFields.writeMap(value.assumingMemoryBound(to: [String: String].self), to: &writer)
            case .floats: LeylineFields.writeMap(value.assumingMemoryBound(to: [String: Float].self), to: &writer)
            case .other: break
            }
        }
        writer.endObject()
    }

    /// A map field; most are empty (labels, attributes), written without the map's walk.
    @inline(__always) private static func writeMap<Value: LeylineFieldValue>(
        _ map: UnsafePointer<[String: Value]>, to writer: inout LeylineJSONWriter
    ) {
        if map.pointee.isEmpty {
            writer.emptyObject()
        } else {
            [String: Value].writeJSON(map.pointee, to: &writer)
        }
    }

    func read(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Message {
        var message = defaults
        var members: [Int] = []
        try withUnsafeMutablePointer(to: &message) { (message) throws(LeylineJSONError) in
            var cursor = try reader.beginObject()
            while let index = try reader.nextField(table, &cursor) {
                try read(index, into: message, &reader)
                if sortedSlots[index].isOneofMember { members.append(index) }
            }
        }
        if members.count > 1, let (oneof, present) = conflict(members) {
            // Named like the Codable path does: the second member in key order.
            throw reader.invalid(LeylineFields.oneofMessage(oneof, present), field: present[1])
        }
        return message
    }

    /// Reads the value of the field at `index` in `sorted` (the reader stands after its key).
    func read(_ index: Int, into message: UnsafeMutablePointer<Message>, _ reader: inout LeylineJSONReader) throws(LeylineJSONError) {
        let slot = sortedSlots[index]
        let value = UnsafeMutableRawPointer(message) + slot.offset
        switch slot.kind {
        case .string: value.assumingMemoryBound(to: String.self).pointee = try reader.string()
        case .bool: value.storeBytes(of: try reader.bool(), as: Bool.self)
        case .uint32: value.storeBytes(of: try reader.uint32(), as: UInt32.self)
        case .uint64: value.storeBytes(of: try reader.uint64(), as: UInt64.self)
        case .float: value.storeBytes(of: try reader.float(), as: Float.self)
        case .double: value.storeBytes(of: try reader.double(), as: Double.self)
        case .enumeration, .value, .array, .labels, .floats, .other:
            guard let read = slot.field.read else { preconditionFailure("\(Message.self) reads \(slot.field.key) itself") }
            try read(message, &reader)
        }
    }

    /// Reads the field at `index` in `sorted` into `message` (a message that reads some fields itself).
    func read(_ index: Int, into message: inout Message, _ reader: inout LeylineJSONReader) throws(LeylineJSONError) {
        try withUnsafeMutablePointer(to: &message) { (target) throws(LeylineJSONError) in try read(index, into: target, &reader) }
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
        withUnsafePointer(to: message) { validate(at: $0, &validator) }
    }

    func validate(at message: UnsafePointer<Message>, _ validator: inout LeylineValidator) {
        let base = UnsafeRawPointer(message)
        for slot in UnsafeBufferPointer(declaredSlots) {
            let value = base + slot.offset
            switch slot.rule {
            case .none: continue
            // The common rules are decided here; the validator is called (with the field's
            // name, which costs a retain) only to report a problem, in its own words.
            case .identifier:
                let text = value.assumingMemoryBound(to: String.self)
                if !LeylineValidator.passes(identifier: text, required: true) { validator.identifier(slot.field.key, text.pointee) }
            case .optionalIdentifier:
                let text = value.assumingMemoryBound(to: String.self)
                if !LeylineValidator.passes(identifier: text, required: false) {
                    validator.optionalIdentifier(slot.field.key, text.pointee)
                }
            case .version:
                let version = value.load(as: UInt32.self)
                if version != LeylineVersion.current { validator.version(version, field: slot.field.key) }
            case .finite(let range):
                let number = slot.kind == .float ? Double(value.load(as: Float.self)) : value.load(as: Double.self)
                if !number.isFinite || !(range?.contains(number) ?? true) { validator.finite(slot.field.key, number, in: range) }
            case .known:
                if let text = slot.enumText, value.load(as: UInt8.self) == text.unknownTag {
                    validator.fail(slot.field.key, text.unknownMessage)
                }
            case .typeChecks:
                switch slot.kind {
                case .value: slot.valueType.unsafelyUnwrapped.check(at: value, slot.field.key, &validator)
                case .array: slot.valueType.unsafelyUnwrapped.checkArray(at: value, slot.field.key, &validator)
                case .labels:
                    let map = value.assumingMemoryBound(to: [String: String].self)
                    if !map.pointee.isEmpty { validator.labels(slot.field.key, map.pointee) }
                case .floats:
                    let map = value.assumingMemoryBound(to: [String: Float].self)
                    if !map.pointee.isEmpty { validator.metrics(slot.field.key, map.pointee) }
                default: slot.field.validate(message, &validator)
                }
            case .custom: slot.field.validate(message, &validator)
            }
        }
    }
}

/// What the bus's paths need of a field without touching the field object: for a scalar
/// stored field its kind, offset (read and written in place) and rule (checked in place), its
/// key bytes and whether it is a oneof member. A plain value: walking the slots takes no
/// reference counting.
struct LeylineFieldSlot<Message> {
    let kind: LeylineFieldKind
    let offset: Int
    let rule: LeylineScalarRule
    let isOneofMember: Bool
    /// `"name":`, in the table's key buffer.
    let key: UnsafeBufferPointer<UInt8>
    /// An enum field's names (kept alive by its field).
    unowned(unsafe) let enumText: LeylineEnumText?
    /// A `.value` field's type, an `.array` field's element type (a metatype: no counting).
    let valueType: (any LeylineFieldValue.Type)?
    /// Kept alive by the table's `sorted` for as long as the slot exists.
    unowned(unsafe) let field: LeylineField<Message>

    init(_ field: LeylineField<Message>, key: UnsafeBufferPointer<UInt8>) {
        kind = field.kind
        offset = field.offset
        rule = field.rule
        isOneofMember = field.oneof != nil
        self.key = key
        enumText = field.enumText
        valueType = field.valueType
        self.field = field
    }
}
