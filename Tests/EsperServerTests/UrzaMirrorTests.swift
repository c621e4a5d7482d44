import EsperTestSupport
import Foundation
import Karn
import Runs
import Testing
import Urza

/// A worker's mirror of the server's kernel library against a real HTTP server
/// (`ArtifactServer`) that serves a genuine artifact — honestly, or with one byte flipped in
/// transit.
@Suite(.serialized) struct UrzaMirrorTests {
    @Test func artifactsAreMirroredWhenTheirChecksumsMatchAndRefusedWhenNot() throws {
        let fixture = try BlueprintLibraryFixture(width: 16, blueprints: ["BP008"])
        let file = try fixture.urza.artifactFile("BP008", allowQuarantine: false)
        let sha = file.record.artifactSHA256
        let served = TemporaryDirectory("esper-mirror-served")
        try Data(file.bytes).write(to: URL(fileURLWithPath: served.path + "/BP008.esk"))
        try sha.write(toFile: served.path + "/BP008.sha256", atomically: true, encoding: .utf8)
        try #"{"items": [{"blueprint_id": "BP008", "artifact_sha256": "\#(sha)"}], "next_cursor": null}"#
            .write(toFile: served.path + "/listing.json", atomically: true, encoding: .utf8)

        try ArtifactServer.mirrorTwice(served.path, karn: try KarnCatalog()) { mirror, urza in
            #expect(try mirror.sync() == 1)
            #expect(urza.get("BP008")?.artifactSHA256 == sha)
            #expect(try mirror.sync() == 0, "an artifact already mirrored is not fetched again")
            let kernel = try urza.fetchKernel("BP008", width: 16).kernel
            #expect(kernel.blueprintId == "BP008" && kernel.artifactSHA256 == sha)
        }
    }
}
