import EsperStorage
import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Synchronization
import Testing
import Urza

@testable import Tezzeret

/// A data directory with Urza and Tezzeret, like the server lays them out.
final class ForgeFixture {
    let directory = TemporaryDirectory("forge-test")
    let catalog: KarnCatalog
    let urza: UrzaLibrary
    let service: TezzeretService
    let telemetry = InMemoryBlueprintTelemetry()
    let faults = FaultScript()

    init(catalog: KarnCatalog? = nil, workers: Int = 1, maxRetries: Int = 0) throws {
        self.catalog = try catalog ?? KarnCatalog()
        urza = try UrzaLibrary(
            configuration: UrzaConfiguration(root: directory.path + "/urza"), catalog: self.catalog,
            telemetry: telemetry)
        var options = CompileOptions()
        options.strategy = .emergency
        options.maxRetries = maxRetries
        let faults = self.faults
        options.errorSampler = { descriptor in faults.shouldFail(descriptor.blueprintId) }
        service = try TezzeretService(
            catalog: self.catalog, urza: urza, directory: directory.path + "/tezzeret",
            forgeWALPath: directory.path + "/urza/forge_wal.json", options: options,
            workers: workers, telemetry: telemetry)
    }

    deinit { service.stop() }

    var forge: Forge { service.forge }
    var forgeWAL: String { directory.path + "/urza/forge_wal.json" }
    var compilerWAL: String { service.compiler.walPath(slot: 0) }
    var staged: [String] { (try? FileManager.default.contentsOfDirectory(atPath: service.compiler.artifactDirectory)) ?? [] }

    /// Every stored blueprint has exactly one artifact file and it verifies.
    func expectCompleteAndUnique(_ ids: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(urza.listAll().map(\.blueprintId) == ids, sourceLocation: sourceLocation)
        let report = urza.verifyAll()
        #expect(report.available == ids.count && report.newlyMarked.isEmpty, sourceLocation: sourceLocation)
        for id in ids {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path + "/urza/artifacts/" + id)) ?? []
            #expect(files.count == 1, "\(id): \(files)", sourceLocation: sourceLocation)
        }
        #expect(!AtomicFile.exists(forgeWAL) && !AtomicFile.exists(compilerWAL), sourceLocation: sourceLocation)
        #expect(staged.isEmpty, "staged leftovers \(staged)", sourceLocation: sourceLocation)
    }
}

/// The error sampler's script: blueprints whose attempts always fail, and ones that fail once.
final class FaultScript: Sendable {
    let always = Mutex<Set<String>>([])
    let once = Mutex<Set<String>>([])
    func shouldFail(_ id: String) -> Bool {
        always.withLock { $0.contains(id) } || once.withLock { $0.remove(id) != nil }
    }
}

/// A catalog with some of the default templates.
func subset(_ ids: [String]) throws -> KarnCatalog {
    let full = try KarnCatalog()
    let catalog = try KarnCatalog(loadDefaults: false)
    for id in ids { catalog.register(try #require(full.template(id))) }
    return catalog
}

@Suite struct ForgeTests {
    @Test func theForgeCompilesTheWholeCatalogOnce() throws {
        let fixture = try ForgeFixture()
        let summary = fixture.forge.run()
        #expect(summary.compiled.count == 50 && summary.failed.isEmpty && summary.skipped == 0 && !summary.resumed, "\(summary.failed)")
        // The 50 slot templates; the widening family (host-shaped) is not forged.
        #expect(Set(summary.compiled) == Set((1...50).map { String(format: "BP%03d", $0) }))
        fixture.expectCompleteAndUnique((1...50).map { String(format: "BP%03d", $0) })
        #expect(fixture.urza.get("BP045")?.validationStatus == "UNSAFE")
        #expect(fixture.urza.get("BP044")?.quarantined == true)
        let again = fixture.forge.run()
        #expect(again.compiled.isEmpty && again.skipped == 50)
        #expect(fixture.forge.status.lastRun == again && fixture.forge.status.runs == 2)
    }

    @Test func aSubsetAndAPreStoredEntry() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002", "BP003", "BP004", "BP005"]))
        let template = try #require(fixture.catalog.template("BP002"))
        let staged = try fixture.service.compiler.compile(
            CompileRequest(blueprintId: "BP002", parameters: template.forgeParameters, origin: .forge))
        try fixture.urza.save(descriptor: template.descriptor, artifactPath: staged.artifactPath)
        try FileManager.default.removeItem(atPath: staged.artifactPath)
        let summary = fixture.forge.run()
        #expect(summary.compiled == ["BP001", "BP003", "BP004", "BP005"] && summary.skipped == 1)
        fixture.expectCompleteAndUnique(["BP001", "BP002", "BP003", "BP004", "BP005"])
    }

    @Test func aDamagedArtifactIsQuarantinedAndTheSummarySaysWhyItWasRecompiled() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002"]))
        #expect(fixture.forge.run().compiled == ["BP001", "BP002"])
        let record = try #require(fixture.urza.get("BP002"))
        let path = fixture.directory.path + "/urza/" + record.artifactPath
        var bytes = try #require(try AtomicFile.read(path))
        for index in 0..<8 { bytes[index] ^= 0xFF }  // the header: the forge's own check sees it
        try AtomicFile.write(bytes, to: path)
        let summary = fixture.forge.run()
        #expect(summary.compiled == ["BP002"] && summary.skipped == 1)
        #expect(summary.recompiled.map(\.blueprintId) == ["BP002"])
        #expect(summary.recompiled.first?.reason.contains(record.artifactPath) == true)
        let quarantined = fixture.directory.path + "/urza/quarantine/BP002/\(record.artifactSHA256).esk.corrupt"
        #expect(FileManager.default.contents(atPath: quarantined) == Data(bytes))
        #expect(Repairs.shared.recent.contains { $0.component == "urza" && $0.file == path && $0.quarantine == quarantined })
        #expect(
            fixture.telemetry.events(named: "forge_finished").last?.attributes["recompiled"]?.hasPrefix("BP002 (") == true)
        fixture.expectCompleteAndUnique(["BP001", "BP002"])
    }

    @Test func aFailingBlueprintDoesNotStopTheRunAndResumesLater() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002"]))
        fixture.faults.always.withLock { $0 = ["BP001"] }
        let first = fixture.forge.run()
        #expect(first.compiled == ["BP002"])
        #expect(first.failed.map(\.blueprintId) == ["BP001"] && first.failed[0].rounds == Forge.maxRounds)
        #expect(first.failed[0].errorClass == "retryable" && first.failed[0].code == "injected_failure")
        #expect(fixture.forge.status.failed.map(\.blueprintId) == ["BP001"])
        // The failed compile's WAL stays and names the blueprint.
        #expect(try CompilerWALRecord.read(fixture.compilerWAL)?.blueprintId == "BP001")

        fixture.faults.always.withLock { $0 = [] }
        let second = fixture.forge.run()
        #expect(second.compiled == ["BP001"] && second.failed.isEmpty)
        fixture.expectCompleteAndUnique(["BP001", "BP002"])
    }

    @Test func transientFailuresAreRetriedInLaterRounds() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP005"]))
        fixture.faults.once.withLock { $0 = ["BP001"] }
        let summary = fixture.forge.run()
        #expect(summary.compiled == ["BP005", "BP001"] && summary.failed.isEmpty)  // BP001 went to the back
        #expect(fixture.telemetry.events(named: "compile_failed").map { $0.attributes["blueprint_id"] } == ["BP001"])
        fixture.expectCompleteAndUnique(["BP001", "BP005"])
    }

    @Test func aPermanentErrorFailsAtOnceWithItsReason() throws {
        let catalog = try subset(["BP001"])
        catalog.register(
            BlueprintTemplate(
                descriptor: BlueprintDescriptor(
                    blueprintId: "BP900", name: "impossible", tier: .safe,
                    allowedParameters: ["groups": ParameterBounds(5, 5)], risk: 0, stage: 0, description: ""),
                parameters: [TemplateParameter("groups", 5, 5, .integer)], recipe: .groupedLinear(groups: "groups")))
        let fixture = try ForgeFixture(catalog: catalog)
        let summary = fixture.forge.run()
        #expect(summary.compiled == ["BP001"])
        #expect(summary.failed.map(\.blueprintId) == ["BP900"] && summary.failed[0].rounds == 1)
        #expect(summary.failed[0].code == "shape_invalid" && summary.failed[0].reason.contains("groups"))
        #expect(!AtomicFile.exists(fixture.forgeWAL))
    }

    @Test func theForgeResumesFromItsWALAndDropsUnknownIds() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002", "BP003"]))
        try AtomicFile.write(Array(#"{"pending":["BP003","BP777","BP001"],"attempts":{"BP003":1}}"#.utf8), to: fixture.forgeWAL)
        let summary = fixture.forge.run()
        #expect(summary.resumed && summary.dropped == ["BP777"] && summary.compiled == ["BP003", "BP001"])
        #expect(fixture.urza.listAll().count == 2)  // BP002 was not pending; the next run discovers it
        #expect(fixture.forge.run().compiled == ["BP002"])
        fixture.expectCompleteAndUnique(["BP001", "BP002", "BP003"])
    }

    @Test func anUnreadableWALMeansFullRediscovery() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002"]))
        try AtomicFile.write(Array("{\"pending\": [\"BP0".utf8), to: fixture.forgeWAL)
        let summary = fixture.forge.run()
        #expect(summary.compiled == ["BP001", "BP002"])
        #expect(AtomicFile.exists(fixture.forgeWAL + ".corrupt"))
        #expect(fixture.telemetry.events(named: "wal_corrupt").count == 1)
    }

    @Test func aCompilerWALFromTheRequestPipelineIsReplayedWithItsParameters() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002"]))
        let record = CompilerWALRecord(
            jobId: "job-1", blueprintId: "BP002", parameters: ["scale": 1.9], paramsSha256: "",
            attempt: 0, startedNs: 0, origin: "request", trainingRunId: "run-9")
        try record.write(to: fixture.compilerWAL)
        let summary = fixture.forge.run()
        #expect(summary.compiled == ["BP002", "BP001"], "\(summary)")  // recovered ids go first
        #expect(fixture.urza.get("BP002")?.parameters == ["scale": 1.9])
        #expect(fixture.telemetry.metrics(named: "tezzeret.wal.recovered_jobs").last?.value == 1)
        fixture.expectCompleteAndUnique(["BP001", "BP002"])
    }

    @Test func twoWorkersCompileEverythingExactlyOnce() throws {
        let fixture = try ForgeFixture(workers: 2)
        let summary = fixture.forge.run()
        #expect(Set(summary.compiled).count == 50 && summary.compiled.count == 50)
        fixture.expectCompleteAndUnique((1...50).map { String(format: "BP%03d", $0) })
        #expect(!AtomicFile.exists(fixture.service.compiler.walPath(slot: 1)))
    }

    @Test func aCorruptArtifactIsRecompiledByTheBackgroundForge() throws {
        let fixture = try ForgeFixture(catalog: try subset(["BP001", "BP002"]))
        let service = fixture.service
        fixture.urza.onArtifactInvalid { _, _ in service.requestForgeRun(trigger: "artifact_invalid") }
        fixture.service.start(runNow: true)
        #expect(eventually(within: 60) { fixture.urza.listAll().count == 2 && !fixture.forge.isRunning })
        let before = try #require(fixture.urza.get("BP002"))
        let path = fixture.directory.path + "/urza/" + before.artifactPath
        var bytes = try #require(try AtomicFile.read(path))
        bytes[bytes.count / 2] ^= 0x40
        try AtomicFile.write(bytes, to: path)
        #expect(fixture.urza.verifyAll().corrupt == ["BP002"])
        #expect(
            eventually(within: 60) {
                let now = fixture.urza.get("BP002")
                return now?.state == .available && now?.artifactSHA256 != before.artifactSHA256
            })
        #expect(try fixture.urza.fetchKernel("BP002").kernel.spec.kind == .linear)
        #expect(
            FileManager.default.fileExists(atPath: fixture.directory.path + "/urza/quarantine/BP002/\(before.artifactSHA256).esk.corrupt"))
    }

    @Test func theRequestPipelineValidatesCompilesAndStores() throws {
        let fixture = try ForgeFixture()
        let (job, created) = try fixture.service.jobs.submit(
            blueprintId: "BP002", parameters: ["scale": 1.5], trainingRunId: "run-1",
            idempotencyKey: "k1")
        #expect(created && job.status == .queued)
        let (same, again) = try fixture.service.jobs.submit(
            blueprintId: "BP002", parameters: ["scale": 1.5], trainingRunId: "run-1",
            idempotencyKey: "k1")
        #expect(!again && same.jobId == job.jobId)
        #expect(eventually(within: 60) { fixture.service.jobs.job(job.jobId)?.status == .succeeded })
        let finished = try #require(fixture.service.jobs.job(job.jobId))
        #expect(finished.artifactSha256 == fixture.urza.get("BP002")?.artifactSHA256)
        #expect(fixture.urza.get("BP002")?.parameters == ["scale": 1.5])
        #expect(throws: CompileError.self) {
            try fixture.service.jobs.submit(blueprintId: "BP002", parameters: ["scale": 5], trainingRunId: nil, idempotencyKey: nil)
        }
        #expect(throws: CompileError.self) {
            try fixture.service.jobs.submit(blueprintId: "BP022", parameters: ["heads": 5], trainingRunId: nil, idempotencyKey: nil)
        }
        // An EXPERIMENTAL blueprint compiles through the pipeline too (approval gates use, not compile).
        let experimental = try fixture.service.jobs.submit(
            blueprintId: "BP037", parameters: ["levels": 2], trainingRunId: nil,
            idempotencyKey: nil
        ).job
        #expect(eventually(within: 60) { fixture.service.jobs.job(experimental.jobId)?.status == .succeeded })
        #expect(fixture.urza.get("BP037")?.descriptor.stage == 5)
    }
}
