import Foundation
import Testing

/// The OpenAPI document is the one declaration of the API: every route the server answers is
/// documented with its method, and every documented operation is served.
@Suite struct OpenAPIConformanceTests {
    /// "METHOD /path" for each operation under `paths:` (the document's own two-space layout).
    static func documentedOperations() throws -> Set<String> {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("openapi/esper.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        var operations = Set<String>()
        var inPaths = false
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            if inPaths && !line.isEmpty && !line.hasPrefix(" ") { break }
            guard inPaths else { continue }
            if line.hasPrefix("  /") && !line.hasPrefix("   ") && line.hasSuffix(":") {
                path = String(line.dropFirst(2).dropLast())
            } else if let path, line.hasPrefix("    ") && !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(String(key)) {
                    operations.insert("\(key.uppercased()) \(path)")
                }
            }
        }
        return operations
    }

    @Test func everyRouteIsDocumentedAndEveryDocumentedOperationServed() throws {
        let server = try BlueprintTestServer(forgeAtStart: false)
        let served = Set(server.application.routes.map { "\($0.method) \($0.pattern)" })
        let documented = try OpenAPIConformanceTests.documentedOperations()
        #expect(documented.count >= 15)
        #expect(served.subtracting(documented).isEmpty, "undocumented: \(served.subtracting(documented).sorted())")
        #expect(documented.subtracting(served).isEmpty, "not served: \(documented.subtracting(served).sorted())")
    }
}
