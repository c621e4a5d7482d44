public import EsperJSON

/// Why bytes could not become a valid Leyline value. `reason` is a short stable slug (for
/// dead-letter entries and metrics labels); `problems` name the fields.
public enum LeylineDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Larger than the hard cap.
    case tooLarge(bytes: Int, limit: Int)
    /// Not JSON at all.
    case malformed(String)
    /// Keys the contract does not have (strict mode only: HTTP bodies).
    case unknownFields([String])
    /// A `version` other than the current one.
    case unsupportedVersion(field: String, found: UInt32)
    /// JSON of the wrong shape, or values the contract does not allow.
    case invalid([JSONFieldProblem])

    public var reason: String {
        switch self {
        case .tooLarge: "too_large"
        case .malformed: "malformed_json"
        case .unknownFields: "unknown_fields"
        case .unsupportedVersion: "unsupported_version"
        case .invalid: "invalid"
        }
    }

    public var problems: [JSONFieldProblem] {
        switch self {
        case .tooLarge(let bytes, let limit): [JSONFieldProblem(field: "", message: "\(bytes) bytes exceed the limit of \(limit)")]
        case .malformed(let message): [JSONFieldProblem(field: "", message: message)]
        case .unknownFields(let fields): fields.map { JSONFieldProblem(field: $0, message: "unknown field") }
        case .unsupportedVersion(let field, let found):
            [JSONFieldProblem(field: field, message: "unsupported version \(found); only version \(LeylineVersion.current) is accepted")]
        case .invalid(let problems): problems
        }
    }

    public var description: String {
        "\(reason): " + problems.map { $0.field.isEmpty ? $0.message : "\($0.field): \($0.message)" }.joined(separator: "; ")
    }
}

/// Reads and writes Leyline values as JSON: snake_case keys, every field present, keys
/// sorted (byte-deterministic output), enums by name. The direct writer/reader does the
/// work; the jansson/Codable path is the reference the tests hold it to, and names the field
/// when a value cannot be encoded.
public enum LeylineCodec {
    /// Encodes a value; non-finite floats are refused with the field named.
    public static func encode<T: LeylineMessage>(_ value: T) throws(LeylineDecodingError) -> [UInt8] {
        var writer = LeylineJSONWriter()
        T.writeJSON(value, to: &writer)
        if !writer.needsSlowPath { return writer.bytes }
        return try encodeWithJansson(value)
    }

    /// Encodes into a reused writer (emptied first), the same bytes as `encode`. False when
    /// the value needs the reference encoder (a non-finite float, a too large uint64): the
    /// caller then uses `encode`, which names the field.
    public static func write<T: LeylineMessage>(_ value: T, into writer: inout LeylineJSONWriter) -> Bool {
        writer.reset()
        T.writeJSON(value, to: &writer)
        return !writer.needsSlowPath
    }

    /// The reference encoder (JanssonEncoder over Codable).
    public static func encodeWithJansson<T: Encodable>(_ value: T) throws(LeylineDecodingError) -> [UInt8] {
        do {
            return try JanssonEncoder().encode(value)
        } catch {
            throw .invalid(JSONFieldProblem.from(error) ?? [JSONFieldProblem(field: "", message: "\(error)")])
        }
    }

    /// Decodes and validates. `strict` (HTTP bodies) makes unknown keys an error; otherwise
    /// (the bus) they are ignored and reported through `ignoredFields`.
    public static func decode<T: LeylineMessage>(
        _ type: T.Type, from bytes: some Collection<UInt8>, strict: Bool = true,
        limit: Int = SystemLimits.standard.maxEnvelopeBytes, ignoredFields: ((_ fields: [String]) -> Void)? = nil
    ) throws(LeylineDecodingError) -> T {
        guard bytes.count <= limit else { throw .tooLarge(bytes: bytes.count, limit: limit) }
        let (value, unknown) = try parse(type, from: bytes)
        if !unknown.isEmpty {
            if strict { throw .unknownFields(unknown) }
            ignoredFields?(unknown)
        }
        try check(value)
        return value
    }

    /// Reads a value without validating it (tools that inspect rejected messages). Unknown
    /// keys are returned, not refused.
    public static func parse<T: LeylineMessage>(
        _ type: T.Type, from bytes: some Collection<UInt8>
    )
        throws(LeylineDecodingError) -> (value: T, unknownFields: [String])
    {
        do {
            let (value, unknown) = try LeylineJSONReader.read(bytes) { (reader: inout LeylineJSONReader) throws(LeylineJSONError) in
                try T.readJSON(&reader)
            }
            return (value, unknown.sorted())
        } catch {
            switch error.kind {
            case .malformed: throw .malformed(error.description)
            case .invalid: throw .invalid([JSONFieldProblem(field: error.path, message: error.message)])
            }
        }
    }

    /// The reference decoder (JanssonDecoder over Codable), same contract as `decode`.
    public static func decodeWithJansson<T: Decodable & LeylineValidatable>(
        _ type: T.Type, from bytes: some Collection<UInt8>, strict: Bool = true,
        limit: Int = SystemLimits.standard.maxEnvelopeBytes, ignoredFields: ((_ fields: [String]) -> Void)? = nil
    ) throws(LeylineDecodingError) -> T {
        guard bytes.count <= limit else { throw .tooLarge(bytes: bytes.count, limit: limit) }
        let value: T
        do {
            value = try JanssonDecoder(rejectUnknownKeys: true).decode(type, from: bytes)
        } catch let error as JSONUnknownFieldsError {
            guard !strict else { throw .unknownFields(error.fields) }
            ignoredFields?(error.fields)
            value = try decodeLenient(type, bytes)
        } catch {
            throw mapped(error)
        }
        try check(value)
        return value
    }

    /// Validates a value built in code (before publishing it).
    public static func check<T: LeylineValidatable>(_ value: T) throws(LeylineDecodingError) {
        var validator = LeylineValidator()
        try check(value, reusing: &validator)
    }

    /// `check` with a validator the caller keeps across many values (emptied first, its
    /// storage kept): a batch of publishes allocates no validator state per message.
    public static func check<T: LeylineValidatable>(_ value: T, reusing validator: inout LeylineValidator) throws(LeylineDecodingError) {
        validator.reset()
        value.validate(&validator)
        guard !validator.problems.isEmpty else { return }
        if let found = validator.unsupportedVersion,
            let problem = validator.problems.first(where: { $0.message.hasPrefix("unsupported version") })
        {
            throw .unsupportedVersion(field: problem.field, found: found)
        }
        throw .invalid(validator.problems)
    }

    private static func decodeLenient<T: Decodable>(_ type: T.Type, _ bytes: some Collection<UInt8>) throws(LeylineDecodingError) -> T {
        do {
            return try JanssonDecoder(rejectUnknownKeys: false).decode(type, from: bytes)
        } catch {
            throw mapped(error)
        }
    }

    private static func mapped(_ error: any Error) -> LeylineDecodingError {
        if let parse = error as? JSONParseError { return .malformed(parse.description) }
        return .invalid(JSONFieldProblem.from(error) ?? [JSONFieldProblem(field: "", message: "\(error)")])
    }
}
