import Foundation
import Karn
import KernelRuntime
import Tezzeret
import Urza

/// A real blueprint library in a temporary directory: Karn's catalog, a Tezzeret compiler
/// (emergency strategy: no timing) for slots of `width`, and an Urza library holding what
/// `store` compiled — what Kasmina fetches from in the control-loop tests.
public final class BlueprintLibraryFixture: @unchecked Sendable {
    public let directory = TemporaryDirectory("esper-blueprints")
    public let catalog: KarnCatalog
    public let compiler: TezzeretCompiler
    public let urza: UrzaLibrary
    public let width: Int

    public init(width: Int, blueprints: [String] = []) throws {
        self.width = width
        catalog = try KarnCatalog()
        var options = CompileOptions()
        options.strategy = .emergency
        options.seedWidth = width
        compiler = try TezzeretCompiler(catalog: catalog, directory: directory.path + "/tezzeret", options: options)
        urza = try UrzaLibrary(configuration: UrzaConfiguration(root: directory.path + "/urza"), catalog: catalog)
        for id in blueprints { try store(id) }
    }

    /// Compiles `id` with its forge parameters for `width` and saves it in Urza.
    @discardableResult
    public func store(_ id: String) throws -> UrzaRecord {
        guard let template = catalog.template(id) else { throw FixtureError("no template \(id)") }
        let result = try compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge))
        return try urza.save(descriptor: template.descriptor, artifactPath: result.artifactPath)
    }

    public struct FixtureError: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }
}
