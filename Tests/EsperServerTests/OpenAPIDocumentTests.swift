import EsperAPI
import EsperHTTP
import EsperServer
import EsperTestSupport
import Foundation
import KernelRuntime
import Testing

/// The OpenAPI document is the one declaration of the API: the server's routes are built from
/// it by operationId (`APIDocument`, `Router(document:handlers:)`), so it lists exactly the
/// routes the server answers, and a handler without an operation (or the reverse) refuses.
@Suite struct OpenAPIDocumentTests {
    /// `(METHOD, /path)` pairs from `paths:` of the YAML document: paths are the two-space
    /// indented keys starting with `/`, operations the four-space indented HTTP methods.
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOfFile: packageRoot() + "/openapi/esper.yaml", encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var currentPath: String?
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if !line.hasPrefix(" ") && !line.isEmpty { inPaths = line.hasPrefix("paths:"); currentPath = nil; continue }
            guard inPaths else { continue }
            if line.hasPrefix("  /"), line.hasSuffix(":") {
                currentPath = String(line.dropFirst(2).dropLast()).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            } else if let path = currentPath, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if line.hasSuffix(":"), methods.contains(String(key)) { operations.insert("\(key.uppercased()) \(path)") }
            }
        }
        return operations
    }

    /// The server's routes are the document's operations, read independently of the parser
    /// the server uses: the same (method, path) pairs, no more, no less.
    @Test func routesAndDocumentAgree() throws {
        let server = try ServerHarness()
        let served = Set(server.application.routes.map { "\($0.method) \($0.pattern)" })
        let documented = try Self.documentedOperations()
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).sorted() == [], "served but not documented")
        #expect(documented.subtracting(served).sorted() == [], "documented but not served")
        #expect(server.application.routes.allSatisfy { !$0.operationId.isEmpty })
    }

    /// The document compiled into the server is the one in the repository (the build plugin
    /// re-embeds it when it changes).
    @Test func compiledDocumentIsTheRepositorysDocument() throws {
        let text = try String(contentsOfFile: packageRoot() + "/openapi/esper.yaml", encoding: .utf8)
        #expect(APIDocument.text == text)
    }

    /// Public routes are exactly the operations with `security: []`; every other route needs
    /// the token when one is set (mutating ones always, reads when protected).
    @Test func publicRoutesAreTheDocumentsOpenOperations() throws {
        let server = try ServerHarness()
        let open = Set(server.application.routes.filter(\.isPublic).map { "\($0.method) \($0.pattern)" })
        #expect(
            open == [
                "GET /healthz", "GET /metrics", "GET /api/v1/version", "GET /metrics/summary", "GET /ui", "GET /ui/{file}",
            ])
    }

    /// The server is built only from a complete match: an operation without a handler, a
    /// handler for an operation the document lacks, or two handlers for one operation refuse.
    @Test func handlersMustMatchTheDocumentExactly() throws {
        let yaml = """
            openapi: 3.1.0
            paths:
              /things:
                get:
                  operationId: listThings
                post:
                  operationId: createThing
              /open:
                get:
                  operationId: getOpen
                  security: []
            components: {}
            """
        let operations = try OpenAPIOperations.parse(yaml)
        #expect(operations.map(\.operationId) == ["listThings", "createThing", "getOpen"])
        #expect(operations.map(\.isPublic) == [false, false, true])
        let ok: HTTPHandler = { _ in HTTPResponse(status: 200) }
        var complete = OperationHandlers()
        for id in ["listThings", "createThing", "getOpen"] { complete.on(id, ok) }
        let router = try Router(document: operations, handlers: complete)
        #expect(router.routes.map { "\($0.method) \($0.pattern)" } == ["GET /things", "POST /things", "GET /open"])

        var missing = OperationHandlers()
        missing.on("listThings", ok)
        missing.on("getOpen", ok)
        #expect(throws: OpenAPIDocumentError.self) { try Router(document: operations, handlers: missing) }
        do {
            _ = try Router(document: operations, handlers: missing)
        } catch {
            #expect(error.description.contains("no handler for createThing"))
        }
        var unknown = complete
        unknown.on("deleteThing", ok)
        do {
            _ = try Router(document: operations, handlers: unknown)
            Issue.record("a handler for an undocumented operation was accepted")
        } catch {
            #expect(error.description.contains("deleteThing"))
        }
        var twice = complete
        twice.on("getOpen", ok)
        #expect(throws: OpenAPIDocumentError.self) { try Router(document: operations, handlers: twice) }
    }

    /// An operation without an operationId, or an id used twice, is a document the server refuses.
    @Test func documentWithoutOrWithRepeatedOperationIdsIsRefused() {
        let unnamed = "paths:\n  /a:\n    get:\n      summary: x\n"
        #expect(throws: OpenAPIDocumentError.self) { try OpenAPIOperations.parse(unnamed) }
        let repeated = "paths:\n  /a:\n    get:\n      operationId: x\n  /b:\n    get:\n      operationId: x\n"
        #expect(throws: OpenAPIDocumentError.self) { try OpenAPIOperations.parse(repeated) }
    }

    /// The server's own document parses to every operation the independent reading finds.
    @Test func compiledDocumentParsesToEveryOperation() throws {
        let parsed = Set(try APIDocument.operations().map { "\($0.method) \($0.path)" })
        #expect(parsed == (try Self.documentedOperations()))
    }

    /// The `kind` enum of a Template in the document: every kernel kind Karn can list (a kind
    /// added in C and Swift but not here makes `GET /api/v1/karn/templates` break its schema).
    @Test func templateKindsAreEveryKernelKind() throws {
        let text = try String(contentsOfFile: packageRoot() + "/openapi/esper.yaml", encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let start = try #require(lines.firstIndex(of: "    Template:"))
        let kind = try #require(lines[start...].firstIndex { $0.trimmingCharacters(in: .whitespaces) == "kind:" })
        let list = try #require(lines[kind...].firstIndex { $0.trimmingCharacters(in: .whitespaces) == "enum:" })
        let documented = lines[(list + 1)...].prefix { $0.trimmingCharacters(in: .whitespaces).hasPrefix("- ") }
            .map { $0.trimmingCharacters(in: .whitespaces).dropFirst(2) }.map(String.init)
        // Plus the host-shaped kinds Kasmina builds (widening, conv branches, inserted conv layers).
        #expect(Set(documented) == Set(KernelKind.allCases.map(\.rawValue) + ["widen", "conv_branch", "conv_insert"]))
    }
}
