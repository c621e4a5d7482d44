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
}
