import EsperServer
import EsperTestSupport
import Foundation
import KernelRuntime
import Testing

/// The OpenAPI document is the one declaration of the API: it must list exactly the routes
/// the server answers (method and path), no more, no less.
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

    @Test func routesAndDocumentAgree() throws {
        let server = try ServerHarness()
        let served = Set(server.application.routes.map { "\($0.method) \($0.pattern)" })
        let documented = try Self.documentedOperations()
        #expect(!documented.isEmpty)
        #expect(served.subtracting(documented).sorted() == [], "served but not documented")
        #expect(documented.subtracting(served).sorted() == [], "documented but not served")
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
        #expect(Set(documented) == Set(KernelKind.allCases.map(\.rawValue) + ["widen"]))
    }
}
