/// One operation of the OpenAPI document (`paths:` → path → method): what the router serves.
public struct OpenAPIOperation: Sendable, Equatable {
    public let operationId: String
    /// Upper-case, e.g. `GET`.
    public let method: String
    /// The path template as written, e.g. `/api/v1/runs/{id}`.
    public let path: String
    /// `security: []` on the operation: open even when the server has an API token.
    public let isPublic: Bool
}

/// A document the server cannot be built from.
public struct OpenAPIDocumentError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// Reads the operations out of the OpenAPI document's `paths:` section. The document is
/// ours and block-style YAML (`scripts/check_openapi.py` keeps it so): paths are keys indented
/// two spaces, methods four, an operation's `operationId` and `security` six. Only those
/// lines are read; everything else (schemas, descriptions) is the document's business.
public enum OpenAPIOperations {
    static let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]

    public static func parse(_ yaml: String) throws(OpenAPIDocumentError) -> [OpenAPIOperation] {
        var operations: [OpenAPIOperation] = []
        var inPaths = false
        var path: String?
        var method: String?
        var operationId: String?
        var isPublic = false

        func finish() throws(OpenAPIDocumentError) {
            guard let path, let method else { return }
            guard let operationId else {
                throw OpenAPIDocumentError(description: "the OpenAPI document's \(method) \(path) has no operationId")
            }
            if let other = operations.first(where: { $0.operationId == operationId }) {
                throw OpenAPIDocumentError(
                    description: "operationId \(operationId) names both \(other.method) \(other.path) and \(method) \(path)")
            }
            operations.append(OpenAPIOperation(operationId: operationId, method: method, path: path, isPublic: isPublic))
        }

        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = line.hasSuffix("\r") ? line.dropLast() : line
            if !line.isEmpty && !line.hasPrefix(" ") && !line.hasPrefix("#") {
                try finish()
                (path, method) = (nil, nil)
                inPaths = line == "paths:"
                continue
            }
            guard inPaths else { continue }
            let indent = line.prefix { $0 == " " }.count
            let content = line.dropFirst(indent)
            if content.isEmpty { continue }
            if indent == 2, content.hasPrefix("/"), content.hasSuffix(":") {
                try finish()
                (path, method) = (String(content.dropLast()), nil)
            } else if indent == 4, path != nil, content.hasSuffix(":"), methods.contains(String(content.dropLast())) {
                try finish()
                (method, operationId, isPublic) = (content.dropLast().uppercased(), nil, false)
            } else if indent == 4 {
                try finish()
                method = nil  // path-level keys (parameters, summary) end the operation
            } else if indent == 6, method != nil {
                if content.hasPrefix("operationId:") {
                    operationId = content.dropFirst("operationId:".count).trimmingCharacters(in: " '\"")
                } else if content.hasPrefix("security:") {
                    isPublic = content.dropFirst("security:".count).trimmingCharacters(in: " ") == "[]"
                }
            }
        }
        try finish()
        guard !operations.isEmpty else { throw OpenAPIDocumentError(description: "the OpenAPI document lists no operations") }
        return operations
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
