import EsperTestSupport
import Foundation
import Karn
import Runs
import Testing
import Urza

/// A worker's mirror of the server's kernel library against a real HTTP server (a few lines
/// of Python's http.server) that serves a genuine artifact — honestly, or with one byte
/// flipped in transit.
@Suite(.serialized) struct UrzaMirrorTests {
    static let server = #"""
        import http.server, sys
        directory, flip = sys.argv[1], sys.argv[2] == "flip"
        listing = open(directory + "/listing.json", "rb").read()
        artifact = bytearray(open(directory + "/artifact.esk", "rb").read())
        sha = open(directory + "/artifact.sha256").read().strip()
        if flip:
            artifact[len(artifact) // 2] ^= 0x01
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/api/v1/urza/blueprints"):
                    body, headers = listing, {"Content-Type": "application/json"}
                elif self.path == "/api/v1/urza/artifacts/BP008":
                    body, headers = bytes(artifact), {"Content-Type": "application/octet-stream", "X-Esper-SHA256": sha}
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
        process.arguments = ["-c", server, directory, flip ? "flip" : "honest"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        var line: [UInt8] = []
        while let byte = try output.fileHandleForReading.read(upToCount: 1)?.first, byte != 10 { line.append(byte) }
        return (process, try #require(UInt16(String(decoding: line, as: UTF8.self))))
    }

    @Test func artifactsAreMirroredWhenTheirChecksumsMatchAndRefusedWhenNot() throws {
        let fixture = try BlueprintLibraryFixture(width: 16, blueprints: ["BP008"])
        let file = try fixture.urza.artifactFile("BP008", allowQuarantine: false)
        let sha = file.record.artifactSHA256
        let served = TemporaryDirectory("esper-mirror-served")
        try Data(file.bytes).write(to: URL(fileURLWithPath: served.path + "/artifact.esk"))
        try sha.write(toFile: served.path + "/artifact.sha256", atomically: true, encoding: .utf8)
        try #"{"items": [{"blueprint_id": "BP008", "artifact_sha256": "\#(sha)"}], "next_cursor": null}"#
            .write(toFile: served.path + "/listing.json", atomically: true, encoding: .utf8)

        for flip in [true, false] {
            let (process, port) = try Self.serve(served.path, flip: flip)
            defer {
                // SIGKILL: a child of the test process may inherit a blocked SIGTERM.
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let local = TemporaryDirectory("esper-mirror")
            let karn = try KarnCatalog()
            let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: local.path + "/urza"), catalog: karn)
            let mirror = UrzaMirror(serverURL: "http://127.0.0.1:\(port)", urza: urza, karn: karn, downloads: local.path + "/downloads")
            if flip {
                #expect {
                    try mirror.sync()
                } throws: { error in
                    "\(error)".contains("checksum mismatch")
                }
                #expect(urza.get("BP008") == nil, "a corrupted download is never stored")
            } else {
                #expect(try mirror.sync() == 1)
                #expect(urza.get("BP008")?.artifactSHA256 == sha)
                #expect(try mirror.sync() == 0, "an artifact already mirrored is not fetched again")
                let kernel = try urza.fetchKernel("BP008", width: 16).kernel
                #expect(kernel.blueprintId == "BP008" && kernel.artifactSHA256 == sha)
            }
        }
    }
}
