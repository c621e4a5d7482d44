import EsperStorage
import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Synchronization
import Testing
import Tezzeret

@testable import Urza

/// A data directory with a compiler (emergency strategy: no timing) and a library.
final class LibraryFixture {
    let directory = TemporaryDirectory("urza-test")
    let catalog: KarnCatalog
    let compiler: TezzeretCompiler
    let telemetry = InMemoryBlueprintTelemetry()
    var root: String { directory.path + "/urza" }

    init() throws {
        catalog = try KarnCatalog()
        var options = CompileOptions()
        options.strategy = .emergency
        compiler = try TezzeretCompiler(catalog: catalog, directory: directory.path + "/tezzeret", options: options)
    }

    func library(cacheSize: Int = 128, kernelBytes: Int = 1 << 30) throws -> UrzaLibrary {
        var configuration = UrzaConfiguration(root: root)
        configuration.metadataCacheSize = cacheSize
        configuration.kernelCacheBytes = kernelBytes
        return try UrzaLibrary(configuration: configuration, catalog: catalog, telemetry: telemetry)
    }

    /// Compiles `id` with its forge parameters; returns the staged artifact path.
    func compile(_ id: String) throws -> String {
        let template = try #require(catalog.template(id))
        return try compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge)).artifactPath
    }

    @discardableResult
    func store(_ id: String, in urza: UrzaLibrary) throws -> UrzaRecord {
        try urza.save(descriptor: try #require(catalog.get(id)), artifactPath: try compile(id))
    }

    func files(_ id: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: root + "/artifacts/" + id)) ?? []
    }
}

@Suite struct UrzaLibraryTests {
    @Test func saveGetAndReopen() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let record = try fixture.store("BP009", in: urza)
        #expect(record.state == .available && record.validationStatus == "VALIDATED" && record.seedWidth == 64)
        #expect(record.kind == "residual_mlp" && record.parameters == ["depth": 2.5])
        #expect(record.artifactPath == "artifacts/BP009/\(record.artifactSHA256).esk")
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/" + record.artifactPath))
        #expect(urza.get("BP009") == record)
        #expect(urza.hasValidArtifact("BP009"))
        #expect(!AtomicFile.exists(fixture.root + "/urza_wal.json"))

        let reopened = try fixture.library()
        let again = try #require(reopened.get("BP009"))
        #expect(again.descriptor.risk == 0.3 && again.descriptor.stage == 1)
        #expect(again.descriptor.allowedParameters["depth"] == ParameterBounds(1, 4))
        #expect(again == record)
    }

    @Test func listingReadsTheDatabaseNotTheCache() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library(cacheSize: 2)
        for id in ["BP001", "BP002", "BP043"] { try fixture.store(id, in: urza) }
        for id in ["BP001", "BP002", "BP043"] { #expect(urza.get(id) != nil) }
        #expect(urza.caches.withLock { $0.metadata.count } <= 2)
        #expect(urza.listAll().count == 3)
        #expect(try urza.list(tier: .highRisk).map(\.blueprintId) == ["BP043"])
        #expect(try urza.list(quarantined: false).map(\.blueprintId) == ["BP001", "BP002"])
        #expect(try urza.list(after: "BP001", limit: 1).map(\.blueprintId) == ["BP002"])
        #expect(try urza.list(stage: 6).map(\.blueprintId) == ["BP043"])
    }

    @Test func resavingReplacesTheFileWithoutDuplicates() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let first = try fixture.store("BP002", in: urza)
        let second = try fixture.store("BP002", in: urza)
        #expect(first.artifactSHA256 != second.artifactSHA256)  // new timestamp, new content address
        #expect(fixture.files("BP002") == ["\(second.artifactSHA256).esk"])
        #expect(urza.listAll().count == 1)
    }

    @Test func fetchKernelCachesDecodedKernelsAndChecksItsContract() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        try fixture.store("BP009", in: urza)
        try fixture.store("BP045", in: urza)
        let cold = try urza.fetchKernel("BP009", width: 64)
        #expect(!cold.cacheHit && cold.kernel.spec.kind == .residualMLP)
        let warm = try urza.fetchKernel("BP009", width: 64)
        #expect(warm.cacheHit && warm.kernel === cold.kernel)
        let seed = try warm.kernel.instantiate()
        let input = (0..<128).map { Float($0 % 9) / 9 }
        #expect(try seed.forward(input, batch: 2) == input)  // residual: the identity at graft time
        #expect(throws: UrzaError.incompatibleShape("BP009", artifactWidth: 64, requestedWidth: 32)) {
            try urza.fetchKernel("BP009", width: 32)
        }
        #expect(throws: UrzaError.notFound("BP999")) { try urza.fetchKernel("BP999") }
        #expect(throws: UrzaError.quarantined("BP045")) { try urza.fetchKernel("BP045") }
        #expect(try urza.fetchKernel("BP045", allowQuarantine: true).kernel.quarantined)
        #expect(urza.stats.cacheHits == 1)
    }

    @Test func aDamagedHeaderFoundByTheForgeCheckIsQuarantinedWithATrace() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let record = try fixture.store("BP002", in: urza)
        let path = fixture.root + "/" + record.artifactPath
        var bytes = try #require(try AtomicFile.read(path))
        for index in 0..<16 { bytes[index] ^= 0xFF }
        try AtomicFile.write(bytes, to: path)
        #expect(!urza.hasValidArtifact("BP002"))
        #expect(urza.get("BP002")?.state == .corrupt)
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/quarantine/BP002/\(record.artifactSHA256).esk.corrupt"))
        #expect(urza.invalidReason("BP002")?.contains("header") == true)
        let trace = Repairs.shared.recent.last { $0.component == "urza" && $0.file == path }
        #expect(trace?.action == "quarantined, recompile")
        #expect(trace?.quarantine?.hasSuffix(".esk.corrupt") == true)
    }

    @Test func aFlippedByteIsDetectedQuarantinedAndNeverHandedOut() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let reported = Mutex<[String]>([])
        urza.onArtifactInvalid { id, _ in reported.withLock { $0.append(id) } }
        let record = try fixture.store("BP002", in: urza)
        let path = fixture.root + "/" + record.artifactPath
        var bytes = try #require(try AtomicFile.read(path))
        bytes[bytes.count - 100] ^= 0x01  // a weight's low bit: only the hash can tell
        try AtomicFile.write(bytes, to: path)

        #expect(throws: UrzaError.integrity("BP002", "SHA-256 mismatch")) { try urza.fetchKernel("BP002") }
        #expect(urza.get("BP002")?.state == .corrupt)
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: fixture.root + "/quarantine/BP002/\(record.artifactSHA256).esk.corrupt"))
        #expect(throws: UrzaError.unavailable("BP002", .corrupt)) { try urza.fetchKernel("BP002") }
        #expect(throws: UrzaError.unavailable("BP002", .corrupt)) { try urza.artifactFile("BP002", allowQuarantine: false) }
        #expect(!urza.hasValidArtifact("BP002"))
        #expect(reported.withLock { $0 } == ["BP002"])
        #expect(fixture.telemetry.events(named: "integrity_failure").count == 1)
        // Recompiling and saving makes it available again.
        try fixture.store("BP002", in: urza)
        #expect(try urza.fetchKernel("BP002").kernel.spec.kind == .linear)
    }

    @Test func verifyAllMarksMissingAndCorruptFiles() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let missing = try fixture.store("BP001", in: urza)
        let corrupt = try fixture.store("BP003", in: urza)
        try fixture.store("BP005", in: urza)
        try FileManager.default.removeItem(atPath: fixture.root + "/" + missing.artifactPath)
        let path = fixture.root + "/" + corrupt.artifactPath
        var bytes = try #require(try AtomicFile.read(path))
        bytes[300] ^= 0xFF
        try AtomicFile.write(bytes, to: path)
        let report = urza.verifyAll()
        #expect(report.checked == 3 && report.available == 1)
        #expect(report.missing == ["BP001"] && report.corrupt == ["BP003"])
        #expect(Set(report.newlyMarked) == ["BP001", "BP003"])
        #expect(urza.get("BP001")?.state == .missing)
        let stats = urza.stats
        #expect(stats.records == 3 && stats.available == 1 && stats.missing == 1 && stats.corrupt == 1 && stats.deprecated == 0)
        #expect(urza.verifyAll().newlyMarked.isEmpty)  // already marked
    }

    @Test func walReplayAtConstruction() throws {
        let fixture = try LibraryFixture()
        _ = try fixture.library()
        // A save interrupted after its WAL write: the artifact file exists, the row does not.
        let staged = try fixture.compile("BP005")
        let bytes = try #require(try AtomicFile.read(staged))
        let sha = Checksum.sha256Hex(bytes)
        try AtomicFile.write(bytes, to: fixture.root + "/artifacts/BP005/\(sha).esk")
        let wal =
            #"{"blueprint_id":"BP005","artifact_path":"artifacts/BP005/\#(sha).esk","descriptor":{"blueprint_id":"BP005","name":"relu_activation","risk":0.1}}"#
        try AtomicFile.write(Array(wal.utf8), to: fixture.root + "/urza_wal.json")
        let urza = try fixture.library()
        let record = try #require(urza.get("BP005"))
        #expect(record.artifactSHA256 == sha && record.descriptor.tier == .safe)  // tier taken from Karn, not defaulted
        #expect(!AtomicFile.exists(fixture.root + "/urza_wal.json"))
        #expect(fixture.telemetry.events(named: "wal_recovered").count == 1)
    }

    @Test func walForAnUnknownIdWithoutTierIsTreatedAsHighRisk() throws {
        let fixture = try LibraryFixture()
        _ = try fixture.library()
        let custom = BlueprintDescriptor(blueprintId: "BPWAL", name: "walled", tier: .safe, risk: 0.2, stage: 1, description: "")
        fixture.catalog.register(custom)
        let staged = try fixture.compile("BPWAL")
        let wal = #"{"blueprint_id":"BPWAL","artifact_path":"\#(staged)","descriptor":{"name":"walled"}}"#
        try AtomicFile.write(Array(wal.utf8), to: fixture.root + "/urza_wal.json")
        fixture.catalog.remove("BPWAL")
        let urza = try fixture.library()
        let record = try #require(urza.get("BPWAL"))
        #expect(record.descriptor.tier == .highRisk && record.quarantined)
    }

    @Test func orphanedAndUnreadableWALsAreSetAside() throws {
        let fixture = try LibraryFixture()
        _ = try fixture.library()
        try AtomicFile.write(
            Array(#"{"blueprint_id":"BP007","artifact_path":"artifacts/BP007/none.esk"}"#.utf8), to: fixture.root + "/urza_wal.json")
        _ = try fixture.library()
        #expect(AtomicFile.exists(fixture.root + "/urza_wal.json.orphan"))
        #expect(fixture.telemetry.events(named: "wal_orphan").count == 1)
        try AtomicFile.write(Array("{not json".utf8), to: fixture.root + "/urza_wal.json")
        _ = try fixture.library()
        #expect(AtomicFile.exists(fixture.root + "/urza_wal.json.corrupt"))
    }

    @Test func strayFilesAreCollectedAtStart() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let record = try fixture.store("BP001", in: urza)
        try AtomicFile.write([1, 2, 3], to: fixture.root + "/artifacts/BP001/stale.esk")
        try AtomicFile.write([1, 2, 3], to: fixture.root + "/artifacts/BP099/orphan.esk")
        _ = try fixture.library()
        #expect(fixture.files("BP001") == ["\(record.artifactSHA256).esk"])
        #expect(fixture.files("BP099").isEmpty)
    }

    @Test func seedKernelFetchFallsBackToTheDefaultThenToIdentity() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        try fixture.store("BP001", in: urza)
        try fixture.store("BP009", in: urza)
        let clean = urza.fetchSeedKernel("BP009", width: 64)
        #expect(clean.source == .requested && clean.kernel.blueprintId == "BP009" && clean.reason == nil)
        let unknown = urza.fetchSeedKernel("BP999", width: 64)
        #expect(unknown.source == .fallback && unknown.kernel.blueprintId == "BP001")
        let slow = urza.fetchSeedKernel("BP009", width: 64, budgetMs: -1)  // every fetch is over a negative budget
        #expect(slow.source == .fallback && slow.reason?.contains("budget") == true)
        let wrongWidth = urza.fetchSeedKernel("BP009", width: 16)
        #expect(wrongWidth.source == .identity && wrongWidth.kernel.width == 16)  // BP001 has width 64 too
        #expect(urza.stats.fallbacksToDefault == 2 && urza.stats.fallbacksToIdentity == 1)
        #expect(fixture.telemetry.events(named: "fallback_applied").count == 3)
        #expect(!fixture.telemetry.metrics(named: "kasmina.kernel.fetch_latency_ms").isEmpty)
        let identity = try wrongWidth.kernel.instantiate()
        #expect(try identity.forward([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], batch: 1) == (1...16).map(Float.init))
    }

    @Test func idsThatCannotBePathsAreRejected() throws {
        let fixture = try LibraryFixture()
        let urza = try fixture.library()
        let artifact = try fixture.compile("BP001")
        var descriptor = try #require(fixture.catalog.get("BP001"))
        descriptor.blueprintId = "../../etc"
        #expect(throws: UrzaError.invalidId("../../etc")) { try urza.save(descriptor: descriptor, artifactPath: artifact) }
        descriptor.blueprintId = "BP002"  // the artifact was compiled for BP001
        #expect(throws: UrzaError.self) { try urza.save(descriptor: descriptor, artifactPath: artifact) }
    }
}
