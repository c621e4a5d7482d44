public import EsperHTTP
import Foundation

/// The operator console: static files (`Sources/EsperAPI/Console`, shipped as this module's
/// resources) at `/ui`. They use the public API like any client, so they are public
/// themselves: they hold no data, and the page asks for the token before it changes anything.
/// Files are read once at start-up; only the names listed here are served.
public enum ConsoleRoutes {
    public static let basePath = "/ui"

    /// The console's files and their content types.
    static let files: [String: String] = [
        "index.html": "text/html; charset=utf-8",
        "console.js": "text/javascript; charset=utf-8",
        "console.css": "text/css; charset=utf-8",
    ]

    /// Same-origin only: the page loads nothing from elsewhere and talks only to this server.
    static let securityHeaders: [(name: String, value: String)] = [
        (
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; connect-src 'self'; style-src 'self'; script-src 'self'; "
                + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-cache"),
    ]

    /// The files' bytes, from the module's resource bundle.
    static func load() -> [String: [UInt8]] {
        var contents: [String: [UInt8]] = [:]
        guard let directory = Bundle.module.url(forResource: "Console", withExtension: nil) else { return contents }
        for name in files.keys {
            if let data = try? Data(contentsOf: directory.appendingPathComponent(name)) { contents[name] = Array(data) }
        }
        return contents
    }

    public static func register(into routes: inout OperationHandlers) {
        let contents = load()
        @Sendable func serve(_ name: String) throws(Problem) -> HTTPResponse {
            guard let type = files[name], let body = contents[name] else {
                throw Problem.notFound("no console file '\(name)' (the console is \(basePath))")
            }
            return HTTPResponse(status: 200, headers: [("Content-Type", type)] + securityHeaders, body: body)
        }
        routes.on("getConsole") { _ in try serve("index.html") }
        routes.on("getConsoleFile") { request in try serve(request.pathParameter("file")) }
    }
}
