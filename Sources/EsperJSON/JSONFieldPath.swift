/// Field paths as a client sees them (`seed_states[2].stage`), and the problems a decode
/// failure reports per field.
public enum JSONFieldPath {
    static func render(_ codingPath: [any CodingKey], snakeCase: Bool) -> String {
        var out = ""
        for key in codingPath {
            if let index = key.intValue, key.stringValue == "\(index)" || key is IndexKey {
                out += "[\(index)]"
            } else {
                if !out.isEmpty { out += "." }
                out += snakeCase ? KeyCase.snakeCase(key.stringValue) : key.stringValue
            }
        }
        return out
    }
}

/// One problem with one field of an input document.
public struct JSONFieldProblem: Sendable, Equatable, Codable {
    public let field: String
    public let message: String
    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

extension JSONFieldProblem {
    /// The field-level problems behind a decoding failure, or nil when the error is not one.
    public static func from(_ error: any Error, keyStrategy: JSONKeyStrategy = .convertToSnakeCase) -> [JSONFieldProblem]? {
        let snake = keyStrategy == .convertToSnakeCase
        if let unknown = error as? JSONUnknownFieldsError {
            return unknown.fields.map { JSONFieldProblem(field: $0, message: "unknown field") }
        }
        if let encoding = error as? JSONEncodingError {
            return [JSONFieldProblem(field: encoding.field, message: encoding.message)]
        }
        guard let decoding = error as? DecodingError else { return nil }
        switch decoding {
        case .keyNotFound(let key, let context):
            return [
                JSONFieldProblem(
                    field: JSONFieldPath.render(context.codingPath + [key], snakeCase: snake),
                    message: "required field is missing")
            ]
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return [
                JSONFieldProblem(
                    field: JSONFieldPath.render(context.codingPath, snakeCase: snake),
                    message: context.debugDescription)
            ]
        @unknown default:
            return [JSONFieldProblem(field: "", message: "\(decoding)")]
        }
    }
}
