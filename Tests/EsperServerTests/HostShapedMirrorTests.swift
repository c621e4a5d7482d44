import EsperStorage
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

        try ArtifactServer.mirrorTwice(served.path, karn: karn) { mirror, urza in
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

    /// The server's Urza routes take host-shaped ids: a worker's compile is uploaded under its
    /// id (checksummed, its template's descriptor), read back by id, and mirrored by another
    /// worker over real HTTP.
    @Test func theServerStoresServesAndMirrorsAHostShapedUpload() throws {
        let server = try ServerHarness()
        let home = TemporaryDirectory("esper-host-shaped-upload")
        let karn = try KarnCatalog()
        let compiler = try TezzeretCompiler(catalog: karn, directory: home.path + "/tezzeret")
        let compiled = try compiler.compileHostShaped("BP052", shape: HostShape(inputs: 40, outputs: 10))
        let bytes = try #require(FileManager.default.contents(atPath: compiled.artifactPath)).map { $0 }
        func put(_ id: String, sha: String) throws -> RawResponse {
            try RawHTTP.request(
                port: server.port, method: "PUT", path: "/api/v1/urza/artifacts/\(id)",
                headers: ["Content-Type": "application/octet-stream", "X-Esper-SHA256": sha], body: bytes)
        }
        #expect(try put("BP053-i40-o10", sha: compiled.artifactSha256).status == 422, "compiled for another id")
        #expect(try put("BP052-i40-o10", sha: String(repeating: "0", count: 64)).status == 422, "checksum mismatch")
        #expect(try put("BP052-i40-o10", sha: compiled.artifactSha256).status == 201)
        #expect(try put("BP052-i40-o10", sha: compiled.artifactSha256).status == 200, "idempotent")
        let record = try server.object("GET", "/api/v1/urza/blueprints/BP052-i40-o10")
        #expect(record["artifact_sha256"] as? String == compiled.artifactSha256 && record["validation_status"] as? String == "VALIDATED")
        let download = try server.get("/api/v1/urza/artifacts/BP052-i40-o10")
        #expect(download.status == 200 && Checksum.sha256Hex(download.body) == compiled.artifactSha256)
        #expect(try server.get("/api/v1/urza/blueprints/BP052-i40").status == 400)

        let local = TemporaryDirectory("esper-host-shaped-mirror")
        let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: local.path + "/urza"), catalog: karn)
        let mirror = UrzaMirror(
            serverURL: "http://127.0.0.1:\(server.port)", urza: urza, karn: karn, downloads: local.path + "/downloads")
        _ = try mirror.sync()
        #expect(try urza.hostShapedArtifact("BP052", shape: HostShape(inputs: 40, outputs: 10)).artifactSHA256 == compiled.artifactSha256)
    }
}
