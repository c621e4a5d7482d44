public import EsperJSON

/// A type a Leyline message field can hold: its direct JSON form (what `LeylineJSONWriter`
/// writes and `LeylineJSONReader` reads; Codable is its jansson form) and the checks every
/// field of the type gets, whichever message holds it.
public protocol LeylineFieldValue: Codable, Sendable {
    static func writeJSON(_ value: Self, to writer: inout LeylineJSONWriter)
    static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Self
    /// Checks a field of this type gets under its name (none by default).
    static func check(_ value: Self, _ field: String, _ validator: inout LeylineValidator)
    /// Checks a repeated field of this type gets (none by default).
    static func checkElements(_ values: [Self], _ field: String, _ validator: inout LeylineValidator)
    /// Checks a map field with values of this type gets (none by default).
    static func checkValues(_ values: [String: Self], _ field: String, _ validator: inout LeylineValidator)

    // The forms a field table (`LeylineFields`) calls for a field of this type, or an array of
    // it, where the field is stored: `value` points at a `Self`, `values` at a `[Self]`. The
    // table keeps the type (a metatype, no reference counting) and calls these through its
    // witnesses — code made for the concrete type — instead of a closure per field; a nested
    // message is written and checked through the pointer, never copied. Defaults: the forms
    // above, on the value.
    static func writeJSON(at value: UnsafeRawPointer, to writer: inout LeylineJSONWriter)
    static func writeJSONArray(at values: UnsafeRawPointer, to writer: inout LeylineJSONWriter)
    static func check(at value: UnsafeRawPointer, _ field: String, _ validator: inout LeylineValidator)
    static func checkArray(at values: UnsafeRawPointer, _ field: String, _ validator: inout LeylineValidator)
}

extension LeylineFieldValue {
    public static func check(_ value: Self, _ field: String, _ validator: inout LeylineValidator) {}
    public static func checkElements(_ values: [Self], _ field: String, _ validator: inout LeylineValidator) {}
    public static func checkValues(_ values: [String: Self], _ field: String, _ validator: inout LeylineValidator) {}

    public static func writeJSON(at value: UnsafeRawPointer, to writer: inout LeylineJSONWriter) {
        writeJSON(value.assumingMemoryBound(to: Self.self).pointee, to: &writer)
    }

    public static func writeJSONArray(at values: UnsafeRawPointer, to writer: inout LeylineJSONWriter) {
        [Self].writeJSON(values.assumingMemoryBound(to: [Self].self).pointee, to: &writer)
    }

    public static func check(at value: UnsafeRawPointer, _ field: String, _ validator: inout LeylineValidator) {
        check(value.assumingMemoryBound(to: Self.self).pointee, field, &validator)
    }

    public static func checkArray(at values: UnsafeRawPointer, _ field: String, _ validator: inout LeylineValidator) {
        checkElements(values.assumingMemoryBound(to: [Self].self).pointee, field, &validator)
    }
}

/// An array field as a field table sees it: through its element type's array forms
/// (`LeylineFieldValue.writeJSONArray`, `checkArray`).
protocol LeylineArrayField {
    static var elementType: any LeylineFieldValue.Type { get }
}

extension Array: LeylineArrayField where Element: LeylineFieldValue {
    static var elementType: any LeylineFieldValue.Type { Element.self }
}

extension String: LeylineFieldValue {
    public static func writeJSON(_ value: String, to writer: inout LeylineJSONWriter) { writer.string(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> String { try reader.string() }
    /// Label maps (`attributes`, `annotations`, `indicators`): keys must not be empty.
    public static func checkValues(_ values: [String: String], _ field: String, _ validator: inout LeylineValidator) {
        validator.labels(field, values)
    }
}

extension Bool: LeylineFieldValue {
    public static func writeJSON(_ value: Bool, to writer: inout LeylineJSONWriter) { writer.bool(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Bool { try reader.bool() }
}

extension UInt32: LeylineFieldValue {
    public static func writeJSON(_ value: UInt32, to writer: inout LeylineJSONWriter) { writer.unsigned(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> UInt32 { try reader.uint32() }
}

extension UInt64: LeylineFieldValue {
    public static func writeJSON(_ value: UInt64, to writer: inout LeylineJSONWriter) { writer.unsigned(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> UInt64 { try reader.uint64() }
}

extension Float: LeylineFieldValue {
    public static func writeJSON(_ value: Float, to writer: inout LeylineJSONWriter) { writer.float(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Float { try reader.float() }
    /// Metric maps (`metrics`, `parameters`, …): keys non-empty, values finite.
    public static func checkValues(_ values: [String: Float], _ field: String, _ validator: inout LeylineValidator) {
        validator.metrics(field, values)
    }
}

extension Double: LeylineFieldValue {
    public static func writeJSON(_ value: Double, to writer: inout LeylineJSONWriter) { writer.double(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Double { try reader.double() }
}

extension LeylineTimestamp: LeylineFieldValue {
    public static func writeJSON(_ value: LeylineTimestamp, to writer: inout LeylineJSONWriter) { writer.timestamp(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> LeylineTimestamp {
        try reader.timestamp()
    }
    public static func check(_ value: LeylineTimestamp, _ field: String, _ validator: inout LeylineValidator) {
        validator.timestamp(field, value)
    }
}

extension LeylineDuration: LeylineFieldValue {
    public static func writeJSON(_ value: LeylineDuration, to writer: inout LeylineJSONWriter) { writer.duration(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> LeylineDuration {
        try reader.duration()
    }
    public static func check(_ value: LeylineDuration, _ field: String, _ validator: inout LeylineValidator) {
        validator.duration(field, value)
    }
}

extension LeylineBytes: LeylineFieldValue {
    public static func writeJSON(_ value: LeylineBytes, to writer: inout LeylineJSONWriter) {
        writer.string(Base64.encode(value.bytes))
    }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> LeylineBytes { try reader.bytes() }
}

/// `google.protobuf.Struct` values (a rollback payload): any JSON.
extension JSONValue: LeylineFieldValue {
    public static func writeJSON(_ value: JSONValue, to writer: inout LeylineJSONWriter) { writer.json(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> JSONValue { try reader.json() }
}

/// Repeated fields: a JSON array; checks come from the element type.
extension Array: LeylineFieldValue where Element: LeylineFieldValue {
    public static func writeJSON(_ value: [Element], to writer: inout LeylineJSONWriter) {
        writer.beginArray()
        // Through the buffer: the elements are borrowed, not copied (retained) one by one.
        value.withUnsafeBufferPointer { elements in
            guard let base = elements.baseAddress else { return }
            for index in elements.indices { Element.writeJSON(at: UnsafeRawPointer(base + index), to: &writer) }
        }
        writer.endArray()
    }

    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> [Element] {
        try reader.array(of: Element.self)
    }

    public static func check(_ value: [Element], _ field: String, _ validator: inout LeylineValidator) {
        Element.checkElements(value, field, &validator)
    }
}

/// Map fields: a JSON object with keys in byte order; checks come from the value type.
extension Dictionary: LeylineFieldValue where Key == String, Value: LeylineFieldValue {
    public static func writeJSON(_ value: [String: Value], to writer: inout LeylineJSONWriter) {
        writer.beginObject()
        if value.count == 1, let (key, element) = value.first {
            writer.mapKey(key)
            Value.writeJSON(element, to: &writer)
        } else if value.count > 1 && value.count <= 16 {
            // The few entries a message's map has, put in key order on the stack by their
            // indices (insertion sort): no array of keys, no hashing to look values up.
            withUnsafeTemporaryAllocation(of: [String: Value].Index.self, capacity: value.count) { order in
                var count = 0
                for index in value.indices {
                    order.initializeElement(at: count, to: index)
                    count += 1
                }
                for next in 1..<count {
                    var position = next
                    while position > 0 && LeylineJSONWriter.byteOrder(value[order[position]].key, value[order[position - 1]].key) {
                        order.swapAt(position, position - 1)
                        position -= 1
                    }
                }
                for position in 0..<count {
                    let (key, element) = value[order[position]]
                    writer.mapKey(key)
                    Value.writeJSON(element, to: &writer)
                }
                _ = order.deinitialize()
            }
        } else {
            for key in value.keys.sorted(by: LeylineJSONWriter.byteOrder) {
                writer.mapKey(key)
                Value.writeJSON(value[key]!, to: &writer)
            }
        }
        writer.endObject()
    }

    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> [String: Value] {
        try reader.map(of: Value.self)
    }

    public static func check(_ value: [String: Value], _ field: String, _ validator: inout LeylineValidator) {
        Value.checkValues(value, field, &validator)
    }
}

/// Enums: by full name (see `LeylineEnum`).
extension LeylineEnum {
    public static func writeJSON(_ value: Self, to writer: inout LeylineJSONWriter) { writer.value(value) }
    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Self { try reader.value(Self.self) }
}
