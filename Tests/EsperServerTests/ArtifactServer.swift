import EsperTestSupport
import Foundation
import Karn
import Runs
import Testing
import Urza

/// A stand-in for the server's Urza download routes (a few lines of Python's http.server, a
/// process of its own): `GET /api/v1/urza/blueprints…` answers `listing.json`, `GET
/// /api/v1/urza/artifacts/<key>` answers `<key>.esk` with `X-Esper-SHA256` from `<key>.sha256`
/// (or the key itself, a hash) — honestly, or with one byte flipped in transit.
enum ArtifactServer {
    static let script = #"""
        import http.server, sys, os
        directory, flip = sys.argv[1], sys.argv[2] == "flip"
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                prefix = "/api/v1/urza/artifacts/"
                key = self.path[len(prefix):] if self.path.startswith(prefix) else ""
                if self.path.startswith("/api/v1/urza/blueprints"):
                    body, headers = open(directory + "/listing.json", "rb").read(), {"Content-Type": "application/json"}
                elif key and "/" not in key and os.path.exists(directory + "/" + key + ".esk"):
                    body = bytearray(open(directory + "/" + key + ".esk", "rb").read())
                    if flip:
                        body[len(body) // 2] ^= 0x01
                    named = directory + "/" + key + ".sha256"
                    sha = open(named).read().strip() if os.path.exists(named) else key
                    body, headers = bytes(body), {"Content-Type": "application/octet-stream", "X-Esper-SHA256": sha}
                else:
                    self.send_response(404); self.end_headers(); return
                self.send_response(200)
                for name, value in headers.items(): self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args): pass
        server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    /// Starts the server over `directory`; returns it and its port.
    static func serve(_ directory: String, flip: Bool) throws -> (Process, UInt16) {
        let python = try #require(Tools.find("python3"), "python3 is needed")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-c", script, directory, flip ? "flip" : "honest"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line: [UInt8] = []
        while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != 10 { line.append(byte) }
        return (process, try #require(UInt16(String(decoding: line, as: UTF8.self))))
    }

    /// Serves `directory` honestly and then with a flipped byte; for each, a worker's fresh
    /// library and its mirror of the server. A flipped download must fail its checksum and
    /// leave nothing stored; `honest` checks the rest.
    static func mirrorTwice(
        _ directory: String, karn: KarnCatalog, honest: (UrzaMirror, UrzaLibrary) throws -> Void
    ) throws {
        for flip in [true, false] {
            let (process, port) = try serve(directory, flip: flip)
            defer {
                // SIGKILL: a child of the test process may inherit a blocked SIGTERM.
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let local = TemporaryDirectory("esper-mirror")
            let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: local.path + "/urza"), catalog: karn)
            let mirror = UrzaMirror(serverURL: "http://127.0.0.1:\(port)", urza: urza, karn: karn, downloads: local.path + "/downloads")
            if flip {
                #expect {
                    try mirror.sync()
                } throws: { error in
                    "\(error)".contains("checksum mismatch")
                }
                #expect(urza.listAll().isEmpty, "a corrupted download is never stored")
            } else {
                try honest(mirror, urza)
            }
        }
    }
}
