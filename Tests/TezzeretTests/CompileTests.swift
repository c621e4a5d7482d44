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
        ("BP043", "gradient_health"), ("BP044", "gradient_health"), ("BP045", "smoke"), ("BP046", "latency"),
        ("BP047", "leak"), ("BP048", "smoke"), ("BP049", "determinism"), ("BP050", "gradient_correctness"),
    ])
    func faultTemplatesAreCaughtByTheirGate(id: String, gate: String) throws {
        let directory = TemporaryDirectory()
        let compiler = try makeCompiler(directory)
        let template = try #require(compiler.catalog.template(id))
        let result = try compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge))
        #expect(result.validation.status == "UNSAFE")
        #expect(result.validation.expectedUnsafe)
        #expect(result.validation.failedGate == gate, "\(id): \(result.validation.gates.map { "\($0.name)=\($0.passed) \($0.detail)" })")
    }
}
