import EsperJSON
import EsperStorage
import Foundation
public import Karn
import KernelRuntime
import Kernels
public import Urza

import struct Leyline.ConvBranchBlueprint
import enum Leyline.RFC3339

/// A finished compile of a host-shaped template at one shape: the artifact and its gates.
public struct HostShapedCompileResult: Sendable, Encodable {
    /// Urza id of the artifact (`BP052-i40-o10`).
    public let artifactId: String
    public let templateId: String
    public let shape: HostShape
    public let artifactPath: String
    public let artifactSha256: String
    public let artifactBytes: Int
    public let validation: ValidationReport
    public let durationMs: Double
}

/// The C kernel of a host-shaped template at one shape (built into every Esper process: the
/// `ck_widen_*`, `ck_conv_branch_*` and — for the depth family's inserted conv — `ck_conv1d_*`
/// kernels), called on plain arrays for the gates. A depth template's shape is the signal it
/// reads and writes: `inputs` positions of `outputs` channels (`BP057-i19-o8`).
enum HostShapedKernel {
    case widening(inputs: Int, units: Int, outputs: Int)
    case convBranch(ConvBranchDimensions)
    /// s = conv(h) + b over h [length, channels], 'same' padding, stride 1, no activation.
    case convInsert(Conv1DDimensions)

    init?(_ template: BlueprintTemplate, _ shape: HostShape) {
        switch template.recipe {
        case .widen(let units):
            self = .widening(inputs: shape.inputs, units: units, outputs: shape.outputs)
        case .convBranch:
            guard let entry = ConvBranchBlueprint.named(template.id) else { return nil }
            self = .convBranch(
                ConvBranchDimensions(
                    batch: 1, length: shape.inputs, inputChannels: 1, channels: entry.channels, kernelSizes: entry.kernelSizes,
                    stride: entry.stride, padding: entry.padding, outputs: shape.outputs))
        case .convInsert(let kernelSize):
            guard kernelSize % 2 == 1 else { return nil }
            self = .convInsert(
                Conv1DDimensions(
                    batch: 1, inputChannels: shape.outputs, length: shape.inputs, outputChannels: shape.outputs,
                    kernelSize: kernelSize, stride: 1, padLeft: (kernelSize - 1) / 2, padRight: (kernelSize - 1) / 2))
        default:
            return nil
        }
    }

    /// Floats of its parameters (0: the shape leaves a conv layer nothing to read).
    var parameterCount: Int {
        switch self {
        case .widening(let inputs, let units, let outputs): Kernels.wideningParameterCount(inputs: inputs, units: units, outputs: outputs)
        case .convBranch(let dimensions): Kernels.convBranchParameterCount(dimensions)
        case .convInsert(let d): d.outputChannels * d.kernelSize * d.inputChannels + d.outputChannels
        }
    }

    /// Floats of the last linear map V (the end of the parameter buffer): the part whose zero
    /// start makes the seed function-preserving (an inserted conv: all of it, weights and bias).
    var mapCount: Int {
        switch self {
        case .widening(_, let units, let outputs): units * outputs
        case .convBranch(let dimensions): Kernels.convBranchFlatWidth(dimensions) * dimensions.outputs
        case .convInsert: parameterCount
        }
    }

    /// Floats per example out.
    var outputs: Int {
        switch self {
        case .widening(_, _, let outputs): outputs
        case .convBranch(let dimensions): dimensions.outputs
        case .convInsert(let d): d.length * d.outputChannels
        }
    }

    /// y [batch, outputs] for x [batch, inputs].
    func forward(_ parameters: [Float], _ x: [Float], batch: Int) throws -> [Float] {
        try run(parameters, x, batch: batch, outputGradient: nil).output
    }

    /// ∂(Σ y·g)/∂θ.
    func parameterGradient(_ parameters: [Float], _ x: [Float], batch: Int, outputGradient: [Float]) throws -> [Float] {
        try run(parameters, x, batch: batch, outputGradient: outputGradient).gradient
    }

    private func run(
        _ parameters: [Float], _ x: [Float], batch: Int, outputGradient: [Float]?
    ) throws -> (
        output: [Float], gradient: [Float]
    ) {
        var output = [Float](repeating: 0, count: batch * outputs)
        var gradient = [Float](repeating: 0, count: parameters.count)
        switch self {
        case .widening(let inputs, let units, let outputs):
            var hidden = [Float](repeating: 0, count: batch * units)
            var hiddenGradient = hidden
            try Kernels.wideningForward(
                output: &output, hidden: &hidden, input: x, parameters: parameters, batch: batch, inputs: inputs, units: units,
                outputs: outputs)
            if let outputGradient {
                try Kernels.wideningBackward(
                    parameterGradient: &gradient, inputGradient: nil, hiddenGradient: &hiddenGradient, outputGradient: outputGradient,
                    input: x, hidden: hidden, parameters: parameters, batch: batch, inputs: inputs, units: units, outputs: outputs)
            }
        case .convBranch(var dimensions):
            dimensions.batch = batch
            var work = [Float](repeating: 0, count: max(1, Kernels.convBranchWorkCount(dimensions)))
            try Kernels.convBranchForward(output: &output, work: &work, input: x, parameters: parameters, dimensions: dimensions)
            if let outputGradient {
                try Kernels.convBranchBackward(
                    parameterGradient: &gradient, inputGradient: nil, work: &work, outputGradient: outputGradient, input: x,
                    parameters: parameters, dimensions: dimensions)
            }
        case .convInsert(var d):
            d.batch = batch
            let weights = d.outputChannels * d.kernelSize * d.inputChannels
            let columns = batch * d.length * d.kernelSize * d.inputChannels
            var z = output, cols = [Float](repeating: 0, count: columns), dz = output
            try Kernels.conv1dForward(
                y: &output, z: &z, columns: &cols, input: x, weights: parameters, bias: Array(parameters[weights...]),
                activation: .identity, dimensions: d)
            if let outputGradient {
                var biasGradient = [Float](repeating: 0, count: d.outputChannels)
                try Kernels.conv1dBackward(
                    inputGradient: nil, weightGradient: &gradient, biasGradient: &biasGradient, dz: &dz, inputColumnsGradient: nil,
                    outputGradient: outputGradient, z: z, y: output, columns: cols, weights: parameters, activation: .identity,
                    dimensions: d)
                for c in 0..<d.outputChannels { gradient[weights + c] = biasGradient[c] }
            }
        }
        return (output, gradient)
    }

    /// The widening kernel in double precision, written out (relu(x Uᵀ + c) Vᵀ), and the
    /// inserted conv (Σ W·h over the zero-padded window + b); nil for kinds whose only
    /// reference is the finite-difference check.
    func reference(_ parameters: [Float], _ x: [Float], batch: Int) -> [Double]? {
        if case .convInsert(let d) = self { return HostShapedKernel.convolutionReference(d, parameters, x, batch: batch) }
        guard case .widening(let inputs, let units, let outputs) = self else { return nil }
        var y = [Double](repeating: 0, count: batch * outputs)
        for b in 0..<batch {
            var hidden = [Double](repeating: 0, count: units)
            for j in 0..<units {
                var sum = Double(parameters[units * inputs + j])
                for i in 0..<inputs { sum += Double(parameters[j * inputs + i]) * Double(x[b * inputs + i]) }
                hidden[j] = max(0, sum)
            }
            for o in 0..<outputs {
                var sum = 0.0
                for j in 0..<units { sum += Double(parameters[units * (inputs + 1) + o * units + j]) * hidden[j] }
                y[b * outputs + o] = sum
            }
        }
        return y
    }
}

extension HostShapedKernel {
    /// y[b, t, o] = b_o + Σ_{j, i} W[o, j, i] · h[b, t + j − padLeft, i] (zero outside), in double.
    /// The C functions a family's kernel runs on (the artifact's `kernel_code`).
    static func kernelCode(family: String) -> String {
        switch family {
        case "widening": "ck_widen_*"
        case "depth": "ck_conv1d_*"
        default: "ck_conv_branch_*"
        }
    }

    static func convolutionReference(_ d: Conv1DDimensions, _ parameters: [Float], _ x: [Float], batch: Int) -> [Double] {
        let (c, k, length) = (d.inputChannels, d.kernelSize, d.length)
        let weights = d.outputChannels * k * c
        var y = [Double](repeating: 0, count: batch * length * d.outputChannels)
        for b in 0..<batch {
            for t in 0..<length {
                for o in 0..<d.outputChannels {
                    var sum = Double(parameters[weights + o])
                    for j in 0..<k {
                        let position = t + j - d.padLeft
                        guard position >= 0 && position < length else { continue }
                        for i in 0..<c { sum += Double(parameters[(o * k + j) * c + i]) * Double(x[(b * length + position) * c + i]) }
                    }
                    y[(b * length + t) * d.outputChannels + o] = sum
                }
            }
        }
        return y
    }
}

/// The gates of a host-shaped kernel at one shape (run in the watchdog's child process like the
/// slot kernels'): finite forward, the double-precision reference (widening), zero output with
/// V = 0 (function-preserving at graft), finite backward, and the backward against central
/// finite differences of Σ y·g on entries of V (where the kernel is linear, so the check has no
/// ReLU kinks to trip on).
enum HostShapedGates {
    static let batch = 4

    static func run(_ kernel: HostShapedKernel, heartbeat: () -> Void) -> ValidationReport {
        var rng = SplitMix(state: 0x5eed_4a11)
        let count = kernel.parameterCount
        let inputs = (try? inputWidth(kernel)) ?? 0
        let x = (0..<(batch * inputs)).map { _ in rng.uniform() }
        let g = (0..<(batch * kernel.outputs)).map { _ in rng.uniform() }
        var parameters = (0..<count).map { _ in rng.uniform() * 0.5 }
        var gates: [GateResult] = []
        var failed: String?
        var smoke = ""
        var preserving = false
        func gate(_ name: String, _ body: () throws -> (Bool, String, [String: Double])) {
            guard failed == nil else {
                gates.append(GateResult(name: name, passed: false, skipped: true, detail: "skipped after \(failed!) failed", metrics: [:]))
                return
            }
            let verdict: (Bool, String, [String: Double])
            do { verdict = try body() } catch { verdict = (false, "kernel error: \(error)", [:]) }
            gates.append(GateResult(name: name, passed: verdict.0, skipped: false, detail: verdict.1, metrics: verdict.2))
            if !verdict.0 { failed = name }
            heartbeat()
        }
        gate("forward_finite") {
            let y = try kernel.forward(parameters, x, batch: batch)
            smoke = Checksum.sha256Hex(y.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) })
            return (y.allSatisfy(\.isFinite), "forward of a random batch of \(batch)", [:])
        }
        gate("reference") {
            guard let reference = kernel.reference(parameters, x, batch: batch) else {
                return (true, "no written-out reference for this kind: the gradient check covers it", [:])
            }
            let y = try kernel.forward(parameters, x, batch: batch)
            let scale = max(1, reference.map(abs).max() ?? 0)
            let error = zip(y, reference).map { abs(Double($0) - $1) }.max() ?? 0
            return (error <= 1e-4 * scale, "max |C − double reference| = \(error)", ["max_abs_error": error])
        }
        gate("backward_finite") {
            let gradient = try kernel.parameterGradient(parameters, x, batch: batch, outputGradient: g)
            return (gradient.allSatisfy(\.isFinite), "parameter gradient of Σ y·g", [:])
        }
        gate("gradient_check") {
            let gradient = try kernel.parameterGradient(parameters, x, batch: batch, outputGradient: g)
            let start = count - kernel.mapCount
            let step = max(1, kernel.mapCount / 8)
            var worst = 0.0
            for index in stride(from: start, to: count, by: step) {
                let saved = parameters[index]
                let h: Float = 1e-2
                parameters[index] = saved + h
                let plus = try loss(kernel.forward(parameters, x, batch: batch), g)
                parameters[index] = saved - h
                let minus = try loss(kernel.forward(parameters, x, batch: batch), g)
                parameters[index] = saved
                let numeric = (plus - minus) / Double(2 * h)
                worst = max(worst, abs(numeric - Double(gradient[index])) / max(1, abs(numeric)))
            }
            return (worst <= 1e-2, "worst relative error against finite differences \(worst)", ["max_relative_error": worst])
        }
        gate("preserving_at_init") {
            for index in (count - kernel.mapCount)..<count { parameters[index] = 0 }
            let y = try kernel.forward(parameters, x, batch: batch)
            preserving = y.allSatisfy { $0 == 0 }
            return (preserving, "with V = 0 the seed adds exactly nothing", [:])
        }
        return ValidationReport(
            status: failed == nil ? "VALIDATED" : "FAILED", expectedUnsafe: false, failedGate: failed, identityAtInit: preserving,
            smokeOutputSha256: smoke, gates: gates)
    }

    static func inputWidth(_ kernel: HostShapedKernel) throws -> Int {
        switch kernel {
        case .widening(let inputs, _, _): inputs
        case .convBranch(let dimensions): dimensions.length
        case .convInsert(let d): d.length * d.inputChannels
        }
    }

    static func loss(_ y: [Float], _ g: [Float]) -> Double { zip(y, g).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

    /// Deterministic test values in [-1, 1).
    struct SplitMix {
        var state: UInt64
        mutating func uniform() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            return Float(z >> 40) / Float(1 << 23) - 1
        }
    }
}

extension TezzeretCompiler {
    /// Compiles a host-shaped template (widening, conv branch) for the shape it attaches to:
    /// checks the shape, runs the gates on the built-in C kernel under the watchdog, and writes
    /// a checksummed artifact `<artifactId>.esk`. The artifact carries no weights (a seed's
    /// start is drawn at germination from its id): its content is the recipe, the shape and
    /// the gate results, with a placeholder identity kernel spec.
    public func compileHostShaped(
        _ blueprintId: String, shape: HostShape, trainingRunId: String? = nil
    ) throws(CompileError)
        -> HostShapedCompileResult
    {
        let started = Autotuner.monotonic()
        guard let template = catalog.template(blueprintId) else { throw CompileError(blueprintId, .notFound) }
        let id = template.id
        guard template.isHostShaped else {
            throw CompileError(
                id, .shapeInvalid(parameter: nil, message: "a slot template is compiled for its slot width, not a host shape"))
        }
        guard (1...HostShape.maxWidth).contains(shape.inputs), (1...HostShape.maxWidth).contains(shape.outputs),
            let kernel = HostShapedKernel(template, shape), kernel.parameterCount > 0
        else {
            throw CompileError(
                id, .shapeInvalid(parameter: nil, message: "\(id) does not fit inputs \(shape.inputs), outputs \(shape.outputs)"))
        }
        guard kernel.parameterCount <= KernelArtifact.maxBytes / 4 else {
            throw CompileError(id, .tooLarge("\(kernel.parameterCount) parameters at this shape"))
        }
        let artifactId = shape.artifactId(templateId: id)
        telemetry.event("tezzeret", "compile_started", .info, ["blueprint_id": artifactId, "origin": "host_shape"])
        var outcome = KernelWatchdog.Outcome<ValidationReport>.crashed("not run")
        for _ in 0..<3 {
            outcome = KernelWatchdog.run(
                deadlineSeconds: max(1, options.timeoutSeconds - (Autotuner.monotonic() - started)),
                cpuLimitSeconds: options.kernelCallCPUSeconds
            ) { heartbeat in HostShapedGates.run(kernel, heartbeat: heartbeat) }
            guard case .stalled = outcome else { break }
        }
        let report: ValidationReport
        switch outcome {
        case .finished(let gates): report = gates
        case .timedOut(let seconds, _):
            report = ValidationGates.watchdogReport("no answer within \(ValidationGates.ms(seconds / 1000)) s", expectedUnsafe: false)
        case .crashed(let why): report = ValidationGates.watchdogReport(why, expectedUnsafe: false)
        case .stalled(let seconds):
            report = ValidationGates.watchdogReport(
                "blocked for \(ValidationGates.ms(seconds / 1000)) s, three times", expectedUnsafe: false)
        }
        if let gate = report.failedGate {
            let detail = report.gates.first { $0.name == gate }?.detail ?? ""
            telemetry.event("tezzeret", "gate_failed", .error, ["blueprint_id": artifactId, "gate": gate, "detail": detail])
            throw CompileError(id, .gateFailed(gate: gate, detail: detail))
        }
        let bytes: [UInt8]
        do {
            let encoder = JanssonEncoder()
            var descriptor = template.descriptor
            descriptor.blueprintId = artifactId
            var metadata: [String: JSONValue] = [
                "compiler_version": .string(TezzeretCompiler.version),
                ArtifactMetadataKeys.descriptor: try encoder.encodeValue(descriptor),
                ArtifactMetadataKeys.validation: try encoder.encodeValue(report),
                "smoke_output_sha256": .string(report.smokeOutputSha256),
                "origin": .string("host_shape"),
                HostShapedArtifact.metadataKey: .object([
                    "template_id": .string(id), "family": .string(template.family), "recipe": .string(template.recipe.kind),
                    "inputs": .int(Int64(shape.inputs)), "outputs": .int(Int64(shape.outputs)),
                    "parameter_count": .int(Int64(kernel.parameterCount)),
                    "kernel_code": .string("built-in C kernel (\(HostShapedKernel.kernelCode(family: template.family)))"),
                ]),
            ]
            if let trainingRunId { metadata["training_run_id"] = .string(trainingRunId) }
            let artifact = KernelArtifact(
                blueprintId: artifactId, tier: UInt8(template.descriptor.tier.rawValue), flags: [],
                stage: UInt16(clamping: template.descriptor.stage), seed: 0, paramsSHA256: Checksum.sha256(Array(artifactId.utf8)),
                batchHint: UInt32(HostShapedGates.batch), spec: KernelSpec(kind: .identity, width: 1), weights: [],
                createdUnixNs: UInt64(RFC3339.nowUnixNanoseconds()), metadata: metadata)
            bytes = try artifact.encode()
        } catch {
            throw CompileError(id, .kernel("encoding the artifact: \(error)"))
        }
        let path = artifactPath(for: artifactId)
        do { try ArtifactWriter.write(bytes, to: path, blueprintId: artifactId) } catch { throw CompileError(id, .io("\(path): \(error)")) }
        telemetry.event("tezzeret", "compile_succeeded", .info, ["blueprint_id": artifactId, "sha256": Checksum.sha256Hex(bytes)])
        return HostShapedCompileResult(
            artifactId: artifactId, templateId: id, shape: shape, artifactPath: path, artifactSha256: Checksum.sha256Hex(bytes),
            artifactBytes: bytes.count, validation: report, durationMs: (Autotuner.monotonic() - started) * 1000)
    }

    /// Compiles `blueprintId` at `shape` and stores the artifact in `urza` (under its artifact
    /// id, with the template's descriptor renamed to it); returns the stored record.
    @discardableResult
    public func compileHostShaped(
        _ blueprintId: String, shape: HostShape, into urza: UrzaLibrary, trainingRunId: String? = nil
    )
        throws -> UrzaRecord
    {
        let result = try compileHostShaped(blueprintId, shape: shape, trainingRunId: trainingRunId)
        defer { AtomicFile.remove(result.artifactPath) }
        guard var descriptor = catalog.template(result.templateId)?.descriptor else { throw CompileError(blueprintId, .notFound) }
        descriptor.blueprintId = result.artifactId
        return try urza.save(descriptor: descriptor, artifactPath: result.artifactPath)
    }
}
