import EsperStorage
import EsperTestSupport
import Foundation
import Karn
import Leyline
import Testing
import Tezzeret
import Tolaria
import Urza

@testable import Kasmina

/// Host-shaped seeds (widening, conv branch) vouched for by Tezzeret's compile at the shape
/// they attach to, stored in Urza as checksummed artifacts (issue 17 item 5).
@Suite(.serialized) struct HostShapedArtifactTests {
    /// A private library and compiler, so the shared fixtures keep their `built` seeds.
    struct Library {
        let directory = TemporaryDirectory("esper-host-shaped")
        let karn: KarnCatalog
        let urza: UrzaLibrary
        let compiler: TezzeretCompiler

        init() throws {
            karn = try KarnCatalog()
            urza = try UrzaLibrary(configuration: UrzaConfiguration(root: directory.path + "/urza"), catalog: karn)
            compiler = try TezzeretCompiler(catalog: karn, directory: directory.path + "/tezzeret")
        }

        /// Kasmina's provider; `compiling`: Tezzeret compiles a missing shape on demand.
        func provider(compiling: Bool) -> UrzaKernelProvider {
            guard compiling else { return UrzaKernelProvider(urza: urza) }
            let compiler = compiler, urza = urza
            return UrzaKernelProvider(urza: urza) { templateId, shape in
                try compiler.compileHostShaped(templateId, shape: shape, into: urza)
            }
        }

        func germinate(_ blueprint: String, provider: UrzaKernelProvider, conv: Bool) throws -> Seed {
            let manager = SeedManager(runId: "host-shaped", settings: SeedSettings(), kernels: provider, budgetMs: 1000)
            let controller = ScriptedController(manager: manager, script: [0: [Commands.germinate(blueprint)]])
            var config = conv ? ConvBranchTests.config : GraftingTests.config
            config.epochs = 1
            let trainer =
                conv
                ? try ConvBranchTests.trainer(config, controller: controller) : try GraftingTests.trainer(config, controller: controller)
            #expect(try trainer.run() == .completed)
            #expect(controller.results.allSatisfy { $0.accepted })
            return try #require(manager.slotModules.first?.active)
        }
    }

    @Test func artifactsAreCompiledGatedAndStoredPerShape() throws {
        let library = try Library()
        for (blueprint, shape) in [("BP052", HostShape(inputs: 40, outputs: 10)), ("BP055", HostShape(inputs: 40, outputs: 10))] {
            let result = try library.compiler.compileHostShaped(blueprint, shape: shape)
            #expect(result.artifactId == "\(blueprint)-i40-o10" && result.validation.status == "VALIDATED")
            #expect(result.validation.identityAtInit, "V = 0: the seed adds nothing at graft")
            #expect(
                Set(result.validation.gates.map(\.name))
                    == ["forward_finite", "reference", "backward_finite", "gradient_check", "preserving_at_init"])
            let record = try library.compiler.compileHostShaped(blueprint, shape: shape, into: library.urza)
            #expect(record.blueprintId == result.artifactId && record.validationStatus == "VALIDATED")
            let file = try library.urza.artifactFile(record.blueprintId, allowQuarantine: false)
            #expect(Checksum.sha256Hex(file.bytes) == record.artifactSHA256)
            #expect(try library.urza.hostShapedArtifact(blueprint, shape: shape) == record)
            #expect(HostShape.parse(artifactId: record.blueprintId)?.shape == shape)
        }
        // A shape the template cannot take and a slot template are refused before any gate.
        #expect(throws: CompileError.self) { try library.compiler.compileHostShaped("BP055", shape: HostShape(inputs: 1, outputs: 10)) }
        #expect(throws: CompileError.self) { try library.compiler.compileHostShaped("BP008", shape: HostShape(inputs: 8, outputs: 8)) }
    }

    @Test func aWideningSeedReportsTheArtifactCompiledForItsShape() throws {
        let library = try Library()
        let seed = try library.germinate("widen-8", provider: library.provider(compiling: true), conv: false)
        #expect(seed.isWidening)
        #expect(seed.origin.source == "urza" && seed.origin.kernelId == "BP052-i2-o16" && seed.origin.fallbackReason == nil)
        #expect(library.urza.get("BP052-i2-o16")?.validationStatus == "VALIDATED")
        // A second germination finds the stored artifact (no second compile needed).
        let again = try library.germinate("BP052", provider: library.provider(compiling: false), conv: false)
        #expect(again.origin.source == "urza" && again.origin.kernelId == "BP052-i2-o16")
    }

    @Test func aConvBranchSeedReportsTheArtifactCompiledForItsShape() throws {
        let library = try Library()
        let seed = try library.germinate("conv-branch-8", provider: library.provider(compiling: true), conv: true)
        #expect(
            seed.origin.source == "urza" && seed.origin.kernelId == "BP054-i40-o10" && seed.origin.convBranch != nil, "\(seed.origin)")
    }

    /// The depth family: its shape is the signal (19 positions × 8 channels after the conv host's
    /// first conv), its gates check the C convolution against a written-out double reference.
    @Test func aDepthSeedReportsTheArtifactCompiledForItsSignal() throws {
        let library = try Library()
        let result = try library.compiler.compileHostShaped("conv-insert-3", shape: HostShape(inputs: 19, outputs: 8))
        #expect(result.artifactId == "BP057-i19-o8" && result.validation.status == "VALIDATED" && result.validation.identityAtInit)
        let reference = try #require(result.validation.gates.first { $0.name == "reference" })
        #expect(reference.passed && reference.metrics["max_abs_error"] != nil)
        #expect(throws: CompileError.self) {
            try library.compiler.compileHostShaped("BP058", shape: HostShape(inputs: 19, outputs: 1 << 17))
        }

        let manager = SeedManager(
            runId: "host-shaped", settings: SeedSettings(), kernels: library.provider(compiling: true), budgetMs: 1000)
        let controller = ScriptedController(
            manager: manager, script: [0: [Commands.germinate("conv-insert-3", slot: "conv-slot-0")]])
        var config = ConvInsertTests.config
        config.epochs = 1
        #expect(try ConvInsertTests.trainer(config, controller: controller).run() == .completed)
        let seed = try #require(manager.slotModules.first?.active)
        #expect(seed.origin.source == "urza" && seed.origin.kernelId == "BP057-i19-o8" && seed.origin.convInsert != nil, "\(seed.origin)")
    }

    @Test func withoutAnArtifactTheSeedIsBuiltAsBefore() throws {
        let library = try Library()
        let seed = try library.germinate("widen-8", provider: library.provider(compiling: false), conv: false)
        #expect(seed.origin.source == "built" && seed.origin.kernelId == "widen-8" && seed.origin.fallbackReason == nil)
    }

    @Test func aCorruptedArtifactIsRefusedAndRecompiledOnDemand() throws {
        let library = try Library()
        let shape = HostShape(inputs: 2, outputs: 16)
        let record = try library.compiler.compileHostShaped("BP052", shape: shape, into: library.urza)
        let path = library.urza.configuration.root + "/" + record.artifactPath
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))

        let refused = try library.germinate("widen-8", provider: library.provider(compiling: false), conv: false)
        #expect(refused.origin.source == "built")
        #expect(refused.origin.fallbackReason?.contains("SHA-256") == true, "\(refused.origin.fallbackReason ?? "no reason")")
        #expect(library.urza.get(record.blueprintId)?.state == .corrupt)

        let recompiled = try library.germinate("widen-8", provider: library.provider(compiling: true), conv: false)
        #expect(recompiled.origin.source == "urza" && recompiled.origin.kernelId == record.blueprintId)
        #expect(library.urza.get(record.blueprintId)?.state == .available)
    }
}
