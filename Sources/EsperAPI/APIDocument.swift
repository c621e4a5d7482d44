public import EsperHTTP

/// The OpenAPI document, openapi/esper.yaml, compiled in at build time (the EmbedOpenAPI
/// plugin): the one declaration of the routes. The route files give handlers by operationId;
/// the document says each one's method, path and whether it is public (`security: []`).
public enum APIDocument {
    public static let text: String = openAPIDocumentText

    public static func operations() throws(OpenAPIDocumentError) -> [OpenAPIOperation] {
        try OpenAPIOperations.parse(text)
    }

    /// The server's router; throws (and the server does not start) when the handlers and the
    /// document disagree.
    public static func router(_ handlers: OperationHandlers) throws(OpenAPIDocumentError) -> Router {
        try Router(document: operations(), handlers: handlers)
    }
}
