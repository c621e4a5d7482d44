import EsperTestSupport
import Foundation
import Karn
import Kasmina
import Runs
import Tamiyo
import Testing
import Tezzeret
import Urza

/// A worker mirrors Tezzeret's host-shaped artifacts (a widening and a conv-branch template at
/// one host shape each) from a server process like any other artifact: by the listing's
/// SHA-256, refused when a byte changes in transit, and then vouches for its seeds with them.
@Suite(.serialized) struct HostShapedMirrorTests {
    /// Serves `listing.json` and `<sha256>.esk` files (one byte flipped with "flip").
    static let server = #"""
        import http.server, sys, os
        directory, flip = sys.argv[1], sys.argv[2] == "flip"
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                prefix = "/api/v1/urza/artifacts/"
                if self.path.startswith("/api/v1/urza/blueprints"):
                    body, headers = open(directory + "/listing.json", "rb").read(), {"Content-Type": "application/json"}
                elif self.path.startswith(prefix) and os.path.exists(directory + "/" + self.path[len(prefix):] + ".esk"):
                    sha = self.path[len(prefix):]
                    body = bytearray(open(directory + "/" + sha + ".esk", "rb").read())
                    if flip:
                        body[len(body) // 2] ^= 0x01
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

    @Test func hostShapedArtifactsAreMirroredByChecksumAndRefusedWhenDamaged() throws {
        // The server side: Tezzeret compiles both shapes into its Urza.
        let home = TemporaryDirectory("esper-host-shaped-server")
        let karn = try KarnCatalog()
        let serverUrza = try UrzaLibrary(configuration: UrzaConfiguration(root: home.path + "/urza"), catalog: karn)
        let compiler = try TezzeretCompiler(catalog: karn, directory: home.path + "/tezzeret")
        let shape = HostShape(inputs: 40, outputs: 10)
        var items: [String] = []
        let served = TemporaryDirectory("esper-host-shaped-served")
        for blueprint in ["BP052", "BP055"] {
            let record = try compiler.compileHostShaped(blueprint, shape: shape, into: serverUrza)
            let file = try serverUrza.artifactFile(record.blueprintId, allowQuarantine: false)
            try Data(file.bytes).write(to: URL(fileURLWithPath: served.path + "/\(record.artifactSHA256).esk"))
            items.append(#"{"blueprint_id": "\#(record.blueprintId)", "artifact_sha256": "\#(record.artifactSHA256)"}"#)
        }
        try #"{"items": [\#(items.joined(separator: ", "))], "next_cursor": null}"#
            .write(toFile: served.path + "/listing.json", atomically: true, encoding: .utf8)

        for flip in [true, false] {
            let (process, port) = try Self.serve(served.path, flip: flip)
            defer {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            let local = TemporaryDirectory("esper-host-shaped-worker")
            let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: local.path + "/urza"), catalog: karn)
            let mirror = UrzaMirror(serverURL: "http://127.0.0.1:\(port)", urza: urza, karn: karn, downloads: local.path + "/downloads")
            if flip {
                #expect {
                    try mirror.sync()
                } throws: { error in
                    "\(error)".contains("checksum mismatch")
                }
                #expect(urza.listAll().isEmpty, "a corrupted download is never stored")
                continue
            }
            #expect(try mirror.sync() == 2)
            #expect(try mirror.sync() == 0, "an artifact already mirrored is not fetched again")
            for blueprint in ["BP052", "BP055"] {
                let mirrored = try urza.hostShapedArtifact(blueprint, shape: shape)
                #expect(mirrored.artifactSHA256 == serverUrza.get("\(blueprint)-i40-o10")?.artifactSHA256)
                // The worker's Kasmina (no compiler) vouches for a seed at that shape with it.
                let fetch = UrzaKernelProvider(urza: urza).hostShapedArtifact(blueprintId: blueprint, shape: shape, budgetMs: 1000)
                #expect(fetch.artifactId == "\(blueprint)-i40-o10" && fetch.artifactSha256 == mirrored.artifactSHA256)
            }
        }
    }

    /// Tamiyo's catalog does not list a host-shaped artifact as a blueprint (it would look like
    /// an identity kernel of width 1); its template stays listed under its id and alias.
    @Test func aHostShapedArtifactIsNoBlueprintOfItsOwnForTamiyo() throws {
        let home = TemporaryDirectory("esper-host-shaped-tamiyo")
        let karn = try KarnCatalog()
        let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: home.path + "/urza"), catalog: karn)
        let compiler = try TezzeretCompiler(catalog: karn, directory: home.path + "/tezzeret")
        let record = try compiler.compileHostShaped("BP052", shape: HostShape(inputs: 1, outputs: 1), into: urza)
        #expect(urza.get(record.blueprintId)?.seedWidth == 1)
        let catalog = BlueprintCatalog(karn: karn, urza: urza)
        #expect(catalog.info(record.blueprintId) == nil)
        #expect(catalog.info("BP052")?.available == true && catalog.info("widen-8")?.available == true)
        #expect(!catalog.defaultPool(width: 1).contains(record.blueprintId))
    }
}
