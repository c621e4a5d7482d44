import EsperStorage
import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Testing

@testable import Tezzeret

/// A compiler over a fresh directory with the default catalog.
func makeCompiler(
    _ directory: TemporaryDirectory, strategy: CompileStrategy = .emergency,
    configure: (inout CompileOptions) -> Void = { _ in }
) throws -> TezzeretCompiler {
    var options = CompileOptions()
    options.strategy = strategy
    configure(&options)
    return try TezzeretCompiler(catalog: try KarnCatalog(), directory: directory.path + "/tezzeret", options: options)
}

@Suite struct CompileTests {
    @Test func everySafeAndExperimentalTemplatePassesTheGates() throws {
        let directory = TemporaryDirectory()
        let compiler = try makeCompiler(directory)
        for template in compiler.catalog.all() where template.tier != .highRisk && !template.isHostShaped {
            let result = try compiler.compile(
                CompileRequest(blueprintId: template.id, parameters: template.forgeParameters, origin: .forge))
            #expect(result.validation.status == "VALIDATED", "\(template.id): \(result.validation.gates.filter { !$0.passed })")
        }
    }

    @Test(arguments: [
        ("BP043", "gradient_health"), ("BP044", "gradient_health"), ("BP045", "smoke"), ("BP046", "watchdog"),
        ("BP047", "leak"), ("BP048", "smoke"), ("BP049", "determinism"), ("BP050", "gradient_correctness"),
    ])
    func faultTemplatesAreCaughtByTheirGate(id: String, gate: String) throws {
        let directory = TemporaryDirectory()
        let compiler = try makeCompiler(directory) { $0.kernelCallCPUSeconds = 3 }
        let template = try #require(compiler.catalog.template(id))
        let result = try compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge))
        #expect(result.validation.status == "UNSAFE")
        #expect(result.validation.expectedUnsafe)
        #expect(result.validation.failedGate == gate, "\(id): \(result.validation.gates.map { "\($0.name)=\($0.passed) \($0.detail)" })")
    }

    /// BP046's kernel never returns (a real infinite loop): the watchdog kills the child process
    /// running the kernel calls, the verdict says why, and this process compiles on.
    @Test func aKernelThatNeverReturnsIsStoppedAndTheCompilerCarriesOn() throws {
        let directory = TemporaryDirectory()
        let compiler = try makeCompiler(directory) { $0.kernelCallCPUSeconds = 2 }
        let hang = try #require(compiler.catalog.template("BP046"))
        #expect(hang.descriptor.name == "infinite_loop")
        let result = try compiler.compile(CompileRequest(blueprintId: "BP046", parameters: hang.forgeParameters, origin: .forge))
        #expect(result.validation.status == "UNSAFE" && result.validation.failedGate == "watchdog")
        let watchdog = try #require(result.validation.gates.first)
        #expect(watchdog.name == "watchdog" && !watchdog.passed && watchdog.detail.contains("did not return"))
        #expect(result.validation.gates.dropFirst().allSatisfy { $0.skipped })
        // The artifact is written quarantined, and the same compiler still compiles the next one.
        let artifact = try KernelArtifact.decode(try #require(try AtomicFile.read(result.artifactPath)))
        #expect(artifact.flags.contains(.quarantine))
        let safe = try #require(compiler.catalog.template("BP002"))
        let next = try compiler.compile(CompileRequest(blueprintId: "BP002", parameters: safe.forgeParameters, origin: .forge))
        #expect(next.validation.status == "VALIDATED")
    }

    /// A safe template that hangs (the hang kernel registered under a safe tier) is not stored:
    /// the compile fails with the watchdog's reason.
    @Test func aHangingSafeTemplateFailsWithTheWatchdogsReason() throws {
        let directory = TemporaryDirectory()
        let catalog = try KarnCatalog(loadDefaults: false)
        let hang = try #require(try KarnCatalog().template("BP046"))
        var descriptor = hang.descriptor
        descriptor.quarantineOnly = false
        catalog.register(BlueprintTemplate(descriptor: descriptor, parameters: hang.parameters, recipe: hang.recipe))
        var options = CompileOptions()
        options.strategy = .emergency
        options.kernelCallCPUSeconds = 2
        let compiler = try TezzeretCompiler(catalog: catalog, directory: directory.path + "/tezzeret", options: options)
        var failure: CompileError?
        do {
            _ = try compiler.compile(CompileRequest(blueprintId: "BP046", parameters: hang.forgeParameters, origin: .forge))
        } catch {
            failure = error
        }
        guard case .gateFailed(let gate, let detail) = try #require(failure).reason else {
            Issue.record("expected a gate failure, got \(String(describing: failure))")
            return
        }
        #expect(gate == "watchdog" && detail.contains("did not return"))
    }
}
