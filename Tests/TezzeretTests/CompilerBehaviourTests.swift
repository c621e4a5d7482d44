import EsperJSON
import EsperStorage
import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Synchronization
import Testing

@testable import Tezzeret

/// A sampler that answers from a script, then "ok"; counts its calls.
final class ScriptedSampler: Sendable {
    private let state: Mutex<(answers: [Bool], calls: Int)>
    init(_ answers: [Bool]) { state = Mutex((answers, 0)) }
    var calls: Int { state.withLock { $0.calls } }
    func next() -> Bool {
        state.withLock { s in
            s.calls += 1
            return s.answers.isEmpty ? false : s.answers.removeFirst()
        }
    }
}

@Suite struct CompilerBehaviourTests {
    @Test func compilesAreDeterministicAndKeepTheRequestedValues() throws {
        let directory = TemporaryDirectory()
        let compiler = try makeCompiler(directory)
        let request = CompileRequest(blueprintId: "BP002", parameters: ["scale": 0.1 + 0.5], origin: .request)
        let first = try compiler.compile(request)
        let second = try compiler.compile(request)
        #expect(first.weightsSha256 == second.weightsSha256)
        let artifact = try KernelArtifact.decode(try #require(try AtomicFile.read(second.artifactPath)))
        #expect(artifact.metadata["requested_parameters"]?["scale"]?.doubleValue == 0.1 + 0.5)  // exact, not rounded
        #expect(artifact.spec.scalar == Float(0.6) && artifact.spec.width == 64)
        #expect(artifact.flags.isEmpty && artifact.tier == 1 && artifact.stage == 0)
        // Another global seed, other weights.
        let reseededDirectory = TemporaryDirectory()
        let reseeded = try makeCompiler(reseededDirectory) { $0.globalSeed = 1 }
        #expect(try reseeded.compile(request).weightsSha256 != first.weightsSha256)
        // The artifact name depends only on the blueprint id (one per blueprint; last write wins).
        #expect(first.artifactPath == second.artifactPath && first.artifactPath.hasSuffix("/BP002.esk"))
    }

    @Test func theCompilerWALSpansTheCompileAndSurvivesAFinalFailure() throws {
        let directory = TemporaryDirectory()
        let sampler = ScriptedSampler([true])
        let compiler = try makeCompiler(directory) {
            $0.maxRetries = 1
            $0.errorSampler = { _ in sampler.next() }
        }
        _ = try compiler.compile(CompileRequest(blueprintId: "BP001", parameters: [:], origin: .forge))
        #expect(sampler.calls == 2)
        #expect(!AtomicFile.exists(compiler.walPath(slot: 0)))

        let failing = try makeCompiler(directory) {
            $0.maxRetries = 1
            $0.errorSampler = { _ in true }
        }
        #expect(throws: CompileError.self) {
            try failing.compile(CompileRequest(blueprintId: "BP003", parameters: ["epsilon": 1e-4], origin: .request))
        }
        let wal = try #require(try CompilerWALRecord.read(failing.walPath(slot: 0)))
        #expect(wal.blueprintId == "BP003" && wal.parameters == ["epsilon": 1e-4] && wal.attempt == 1 && wal.origin == "request")
    }

    @Test func retriesAreCountedAndReported() throws {
        let directory = TemporaryDirectory()
        let telemetry = InMemoryBlueprintTelemetry()
        let sampler = ScriptedSampler([true, true])
        var options = CompileOptions()
        options.strategy = .emergency
        options.maxRetries = 2
        options.errorSampler = { _ in sampler.next() }
        let compiler = try TezzeretCompiler(catalog: try KarnCatalog(), directory: directory.path, options: options, telemetry: telemetry)
        let result = try compiler.compile(CompileRequest(blueprintId: "BP005", parameters: [:], origin: .forge))
        #expect(result.attempts == 3 && sampler.calls >= 2)
        #expect(telemetry.metrics(named: "tezzeret.compile.retry_count").last?.value == 2)
        #expect(telemetry.events(named: "compile_retry").count == 2)
        _ = try compiler.compile(CompileRequest(blueprintId: "BP005", parameters: [:], origin: .forge))
        #expect(telemetry.metrics(named: "tezzeret.compile.retry_count").last?.value == 0)  // first-try success emits 0
    }

    @Test func permanentErrorsAreNotRetried() throws {
        let sampler = ScriptedSampler([])
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory) {
            $0.maxRetries = 3
            $0.errorSampler = { _ in sampler.next() }
        }
        #expect {
            try compiler.compile(CompileRequest(blueprintId: "BP002", parameters: ["scale": 7], origin: .request))
        } throws: { error in
            guard let error = error as? CompileError, case .invalidParameters(let problems) = error.reason else { return false }
            return error.errorClass == .permanent && problems.first?.parameter == "scale"
        }
        #expect(throws: CompileError(("BP999"), .notFound)) {
            try compiler.compile(CompileRequest(blueprintId: "BP999", parameters: [:], origin: .request))
        }
        #expect(sampler.calls == 0)
    }

    /// Explicit requests are not snapped: a shape violation names the parameter (422 shape_invalid).
    @Test func requestShapesAreCheckedNotSnapped() throws {
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory)
        #expect {
            try compiler.compile(CompileRequest(blueprintId: "BP013", parameters: ["groups": 5], origin: .request))
        } throws: { error in
            guard let error = error as? CompileError, case .shapeInvalid(let parameter, let message) = error.reason else { return false }
            return parameter == "groups" && message.contains("divide") && error.code == "shape_invalid"
        }
        #expect(try compiler.compile(CompileRequest(blueprintId: "BP013", parameters: ["groups": 4], origin: .request)).kernel.count == 4)
    }

    /// A widening template has no slot-width shape: a compile request is refused as a permanent
    /// shape error (nothing staged), and `preflight` answers the same before queueing.
    @Test func wideningTemplatesAreNotCompiledForASlot() throws {
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory)
        for request in [
            CompileRequest(blueprintId: "BP052", parameters: [:], origin: .request),
            CompileRequest(blueprintId: "widen-8", parameters: [:], origin: .forge),
        ] {
            #expect {
                try compiler.compile(request)
            } throws: { error in
                guard let error = error as? CompileError, case .shapeInvalid(_, let message) = error.reason else { return false }
                return error.code == "shape_invalid" && error.errorClass == .permanent && message.contains("shaped by the host")
            }
            #expect(throws: CompileError.self) { try compiler.preflight(request) }
        }
        #expect(!FileManager.default.fileExists(atPath: compiler.artifactPath(for: "BP052")))
    }

    /// 05 §4: with d = 64 the forge snaps these midpoints (lower value on a tie).
    @Test(arguments: [
        ("BP013", "groups", 4.0), ("BP017", "heads", 2.0), ("BP019", "heads", 2.0), ("BP022", "heads", 4.0),
        ("BP029", "heads", 8.0), ("BP033", "offset_groups", 2.0), ("BP034", "window", 8.0),
    ])
    func forgeSnapsShapeBreakingMidpoints(id: String, parameter: String, expected: Double) throws {
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory)
        let template = try #require(compiler.catalog.template(id))
        let result = try compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge))
        #expect(result.effectiveParameters[parameter] == expected)
        #expect(result.requestedParameters[parameter] == template.forgeParameters[parameter])
    }

    @Test func integerParametersTakeEffectRounded() throws {
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory)
        let result = try compiler.compile(CompileRequest(blueprintId: "BP009", parameters: ["depth": 2.5], origin: .request))
        #expect(result.effectiveParameters == ["depth": 3] && result.kernel.count == 3)  // half away from zero
    }

    /// Standard-strategy autotuning: every candidate agrees with the reference, one is chosen.
    @Test func autotuningChoosesAnAgreeingVariant() throws {
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory, strategy: .standard)
        let result = try compiler.compile(CompileRequest(blueprintId: "BP021", parameters: ["hidden_multiple": 4], origin: .request))
        #expect(result.autotune.candidates.count == 7)
        #expect(result.autotune.candidates.allSatisfy { $0.disqualified == nil || $0.disqualified == "autotune budget spent" })
        #expect(KernelVariant(name: result.autotune.chosen) == result.kernel.variant)
        let elementwise = try compiler.compile(CompileRequest(blueprintId: "BP011", parameters: [:], origin: .request))
        #expect(Set(elementwise.autotune.candidates.map(\.variant)) == ["vector", "scalar"])
    }

    /// The gates hold for other seeds too (a gate tuned to one draw would be fragile).
    @Test(arguments: [UInt64(1), 7, 12345])
    func gatesHoldAcrossGlobalSeeds(seed: UInt64) throws {
        let compilerDirectory = TemporaryDirectory()
        let compiler = try makeCompiler(compilerDirectory) { $0.globalSeed = seed }
        for template in compiler.catalog.all() where !template.isHostShaped {
            let result = try compiler.compile(
                CompileRequest(blueprintId: template.id, parameters: template.forgeParameters, origin: .forge))
            #expect(result.validation.status == (template.tier == .highRisk ? "UNSAFE" : "VALIDATED"), "\(template.id) seed \(seed)")
        }
    }

    @Test func otherSeedWidthsCompile() throws {
        for width in [16, 48, 128] {
            let compilerDirectory = TemporaryDirectory()
            let compiler = try makeCompiler(compilerDirectory) { $0.seedWidth = width }
            for id in ["BP009", "BP017", "BP020", "BP024", "BP026", "BP027", "BP030", "BP034", "BP037"] {
                let template = try #require(compiler.catalog.template(id))
                let result = try compiler.compile(CompileRequest(blueprintId: id, parameters: template.forgeParameters, origin: .forge))
                #expect(result.kernel.width == width && result.validation.status == "VALIDATED", "\(id) at d = \(width)")
            }
        }
    }
}
