import EsperServer
import EsperTestSupport
import Foundation
import Testing

/// The operator console's files at /ui (its behaviour in a browser: clients/python/tests/test_console.py).
@Suite struct ConsoleRoutesTests {
    @Test func theConsoleIsServedSameOriginEvenWhenReadsNeedTheToken() throws {
        let server = try ServerHarness(environment: ["ESPER_API_TOKEN": "console-token-0123456789", "ESPER_API_PROTECT_READS": "on"])
        let page = try server.get("/ui")
        #expect(page.status == 200 && page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.header("Content-Security-Policy")?.contains("default-src 'self'") == true)
        #expect(page.header("X-Content-Type-Options") == "nosniff")
        #expect(try server.get("/ui/").status == 200)
        // Every file the page loads is served, with its type.
        for (path, type) in [("/ui/console.js", "text/javascript"), ("/ui/console.css", "text/css"), ("/ui/index.html", "text/html")] {
            let file = try server.get(path)
            #expect(file.status == 200 && file.header("Content-Type")?.hasPrefix(type) == true && !file.body.isEmpty, "\(path)")
            #expect(page.text.contains(path) || path == "/ui/index.html", "the page does not load \(path)")
        }
        // Nothing else, and nothing outside the console's directory.
        #expect(try server.get("/ui/secrets.txt").status == 404)
        #expect(try server.get("/ui/..%2FPackage.swift").status == 404)
        #expect(try server.request("POST", "/ui", json: "{}").status == 405)
        // The API behind it still needs the token.
        #expect(try server.get("/api/v1/runs").status == 401)
    }

    @Test func theConsoleLoadsNothingFromElsewhere() throws {
        let directory = packageRoot() + "/Sources/EsperAPI/Console"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        #expect(names == ["console.css", "console.js", "index.html"])
        for name in names {
            let text = try String(contentsOfFile: directory + "/" + name, encoding: .utf8)
            // Only the SVG namespace name is an absolute URL (it is never fetched).
            let urls = text.components(separatedBy: "http").dropFirst().map { String($0.prefix(40)) }
            #expect(urls.allSatisfy { $0.hasPrefix("://www.w3.org/2000/svg") }, "\(name): \(urls)")
            #expect(!text.contains("//cdn") && !text.contains("import("), "\(name)")
        }
    }
}
