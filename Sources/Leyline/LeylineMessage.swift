/// Every contract message: a value type whose one field table (`fields`) gives it both JSON
/// paths — the direct writer/reader (the bus, `LeylineCodec`) and Codable (through
/// `JanssonEncoder`/`Decoder`, for HTTP bodies that embed it) — and its validation.
public protocol LeylineMessage: Sendable, Equatable, LeylineValidatable, LeylineFieldValue {
    static var fields: LeylineFields<Self> { get }
}

extension LeylineMessage {
    public init(from decoder: any Decoder) throws { self = try Self.fields.decode(from: decoder) }

    public func encode(to encoder: any Encoder) throws { try Self.fields.encode(self, to: encoder) }

    public func validate(_ validator: inout LeylineValidator) { Self.fields.validate(self, &validator) }

    public static func writeJSON(_ value: Self, to writer: inout LeylineJSONWriter) { fields.write(value, to: &writer) }

    public static func writeJSON(at value: UnsafeRawPointer, to writer: inout LeylineJSONWriter) {
        fields.write(at: value.assumingMemoryBound(to: Self.self), to: &writer)
    }

    public static func readJSON(_ reader: inout LeylineJSONReader) throws(LeylineJSONError) -> Self { try fields.read(&reader) }

    /// A message field is checked under its name (`hardware_context.device_id`).
    public static func check(_ value: Self, _ field: String, _ validator: inout LeylineValidator) {
        validator.nested(field, value)
    }

    public static func check(at value: UnsafeRawPointer, _ field: String, _ validator: inout LeylineValidator) {
        validator.nested(field, at: value.assumingMemoryBound(to: Self.self))
    }

    /// … a repeated one under `field[i]`.
    public static func checkElements(_ values: [Self], _ field: String, _ validator: inout LeylineValidator) {
        validator.each(field, values)
    }

    /// … and so where a field table holds it, element by element in place.
    public static func checkArray(at values: UnsafeRawPointer, _ field: String, _ validator: inout LeylineValidator) {
        validator.each(field, at: values.assumingMemoryBound(to: [Self].self))
    }

    /// … a map of them under `field.key`.
    public static func checkValues(_ values: [String: Self], _ field: String, _ validator: inout LeylineValidator) {
        validator.eachValue(field, values)
    }
}
