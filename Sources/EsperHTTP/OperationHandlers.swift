/// Handlers by the OpenAPI document's operationId, gathered from the route files and joined
/// with the document's operations by `Router(document:handlers:)`: the document says where an
/// operation lives (method, path, whether it is public), the handler only what it does.
public struct OperationHandlers: Sendable {
    private(set) var handlers: [String: HTTPHandler] = [:]
    /// Operation ids given a handler more than once (reported when the router is built).
    private(set) var repeated: [String] = []

    public init() {}

    public mutating func on(_ operationId: String, _ handler: @escaping HTTPHandler) {
        if handlers[operationId] != nil { repeated.append(operationId) }
        handlers[operationId] = handler
    }

    public var operationIds: Set<String> { Set(handlers.keys) }
}

extension Router {
    /// The router of a document: one route per operation, in the document's order. Refuses
    /// (so the server does not start) when an operation has no handler, a handler names an
    /// operation the document does not have, or an operation has two handlers.
    public init(document operations: [OpenAPIOperation], handlers: OperationHandlers) throws(OpenAPIDocumentError) {
        let documented = Set(operations.map(\.operationId))
        var problems: [String] = []
        let missing = operations.map(\.operationId).filter { handlers.handlers[$0] == nil }
        if !missing.isEmpty { problems.append("no handler for \(missing.joined(separator: ", "))") }
        let unknown = handlers.handlers.keys.filter { !documented.contains($0) }.sorted()
        if !unknown.isEmpty { problems.append("handlers for operations the document does not have: \(unknown.joined(separator: ", "))") }
        if !handlers.repeated.isEmpty {
            problems.append("more than one handler for \(Set(handlers.repeated).sorted().joined(separator: ", "))")
        }
        guard problems.isEmpty else {
            throw OpenAPIDocumentError(description: "the routes do not match the OpenAPI document: " + problems.joined(separator: "; "))
        }
        self.init()
        for operation in operations {
            guard let handler = handlers.handlers[operation.operationId] else { continue }
            add(operation.method, operation.path, isPublic: operation.isPublic, operationId: operation.operationId, handler)
        }
    }
}
