// EsperJSON: the JSON bridge over jansson — parsing with positioned errors, stable
// (sorted-key) encoding, limits, and Codable encoders/decoders backed by jansson.

/// Limits every JSON document from outside is held to.
public enum JSONLimits {
    /// Deepest nesting of arrays/objects accepted. Our messages nest at most four deep; 64
    /// leaves room for free-form payloads while keeping recursive walks shallow.
    public static let maxDepth = 64
}

/// Why a document could not be parsed, with the position jansson reports (1-based line and
/// column; `position` is the byte offset).
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let position: Int
    public let message: String

    public init(line: Int, column: Int, position: Int, message: String) {
        self.line = line
        self.column = column
        self.position = position
        self.message = message
    }

    public var description: String { "invalid JSON at line \(line), column \(column): \(message)" }
}

/// Why a Swift value could not be encoded.
public struct JSONEncodingError: Error, Sendable, Equatable, CustomStringConvertible {
    public let field: String
    public let message: String
    public var description: String { field.isEmpty ? message : "\(field): \(message)" }
}
