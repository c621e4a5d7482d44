import EsperServer
import EsperTestSupport
import Foundation
import Testing

/// The OpenAPI document is the one declaration of the API: every route the server answers
/// is in it with its method, and it names no route the server lacks.
@Suite struct OpenAPIConformanceTests {
    static var documentPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("openapi/esper.yaml").path
    }

    /// `METHOD /path` for each operation under `paths:` (two-space path keys, four-space methods).
    static func documentedOperations() throws -> Set<String> {
        let text = try String(contentsOfFile: documentPath, encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if !line.hasPrefix(" ") && !line.isEmpty { break }
            if line.hasPrefix("  /") && line.hasSuffix(":") {
                current = String(line.dropFirst(2).dropLast())
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     "),
                      let method = ["get", "post", "put", "delete", "patch"].first(where: { line == "    \($0):" }) {
                operations.insert("\(method.uppercased()) \(current)")
            }
        }
        return operations
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedRouteExists() throws {
        let app = try TestApplication()
        let served = Set(app.application.routes.map { "\($0.method) \($0.pattern)" })
        let documented = try Self.documentedOperations()
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "not served: \(documented.subtracting(served).sorted())")
        #expect(documented.contains("POST /api/v1/runs/{id}/pause"))
    }
}
