import EsperJSON
import EsperStorage
import Testing

@testable import KernelRuntime

private func bottleneck(width: Int = 16, hidden: Int = 8) -> KernelSpec {
    var spec = KernelSpec(kind: .residualMLP, width: width, variant: .blas)
    spec.count = 1
    spec.hidden = hidden
    spec.activation = .relu
    return spec
}

private func sampleArtifact() throws -> KernelArtifact {
    let spec = bottleneck()
    return KernelArtifact(
        blueprintId: "BP009", tier: 1, flags: [.approval], stage: 1, seed: 0xDEAD_BEEF, paramsSHA256: Array(repeating: 7, count: 32),
        batchHint: 32, spec: spec, weights: try spec.initialParameters(seed: 0xDEAD_BEEF), createdUnixNs: 1_700_000_000_000_000_000,
        metadata: ["requested_parameters": ["depth": 0.1], "note": "round trip"])
}

@Suite struct KernelRuntimeTests {
    /// The acceptance experiment's seed (primer §7): a 16 → 8 → 16 residual bottleneck with a
    /// zero output projection has 280 parameters and is the identity when grafted.
    @Test func residualBottleneckHas280ParametersAndStartsAsIdentity() throws {
        let spec = bottleneck()
        #expect(spec.parameterCount == 280)
        #expect(spec.tensors.map(\.name) == ["w0", "b0", "w_out", "b_out"])
        #expect(spec.tensors.map(\.shape) == [[8, 16], [8], [16, 8], [16]])
        let kernel = try CompiledKernel(blueprintId: "BP009", spec: spec, weights: try spec.initialParameters(seed: 1), seed: 1)
        let seed = try kernel.instantiate()
        let input = (0..<48).map { Float($0) / 7 - 3 }
        #expect(try seed.forward(input, batch: 3) == input)
    }

    @Test func forwardAndBackwardOverCallerOwnedBuffers() throws {
        let spec = bottleneck()
        var weights = try spec.initialParameters(seed: 3)
        for i in 0..<weights.count where weights[i] == 0 { weights[i] = Float(i % 7) * 0.01 }  // make w_out non-zero
        let seed = try CompiledKernel(blueprintId: "x", spec: spec, weights: weights, seed: 3).instantiate()
        #expect(seed.parameterCount == 280 && seed.gradients.count == 280)
        #expect(throws: KernelError.noForward) { try seed.backward([Float](repeating: 0, count: 32)) }
        let input = (0..<32).map { Float($0 % 5) - 2 }
        var output = [Float](repeating: 0, count: 32)
        try input.withUnsafeBufferPointer { x in
            try output.withUnsafeMutableBufferPointer { y in try seed.forward(x.baseAddress!, into: y.baseAddress!, batch: 2) }
        }
        #expect(output != input)
        let dy = [Float](repeating: 1, count: 32)
        var dx = [Float](repeating: 0, count: 32)
        try dy.withUnsafeBufferPointer { g in
            try dx.withUnsafeMutableBufferPointer { d in try seed.backward(g.baseAddress!, inputGradient: d.baseAddress!) }
        }
        let once = Array(seed.gradients)
        #expect(once.contains { $0 != 0 })
        try dy.withUnsafeBufferPointer { g in try seed.backward(g.baseAddress!, inputGradient: nil) }  // dx discarded
        #expect(zip(seed.gradients, once).allSatisfy { abs($0 - 2 * $1) <= 1e-5 * max(1, abs($1)) })  // accumulated
        seed.zeroGradients()
        #expect(seed.gradients.allSatisfy { $0 == 0 })
        seed.parameters[0] += 1
        try seed.reset()
        #expect(Array(seed.parameters) == weights)
        #expect(throws: KernelError.invalidBatch(0)) { try seed.forward([], batch: 0) }
        #expect(throws: KernelError.self) { try seed.forward([1, 2], batch: 1) }
    }

    @Test func instancesOwnTheirParameters() throws {
        let spec = bottleneck()
        let kernel = try CompiledKernel(blueprintId: "x", spec: spec, weights: try spec.initialParameters(seed: 5), seed: 5)
        let a = try kernel.instantiate(), b = try kernel.instantiate()
        a.parameters[0] = 42
        #expect(b.parameters[0] != 42 && kernel.weights[0] != 42)
        let aRange = UnsafeRawPointer(a.parameters.baseAddress!)..<UnsafeRawPointer(a.parameters.baseAddress! + a.parameterCount)
        #expect(!aRange.contains(UnsafeRawPointer(b.parameters.baseAddress!)))
    }

    /// Kasmina can bind a seed to memory it owns (a Tolaria ParameterBlock), so the host's
    /// optimizer updates the seed in place.
    @Test func aSeedCanLiveInCallerOwnedMemory() throws {
        let spec = bottleneck()
        let kernel = try CompiledKernel(blueprintId: "x", spec: spec, weights: try spec.initialParameters(seed: 8), seed: 8)
        let values = UnsafeMutablePointer<Float>.allocate(capacity: 280), grads = UnsafeMutablePointer<Float>.allocate(capacity: 280)
        defer { values.deallocate(); grads.deallocate() }
        grads.initialize(repeating: 7, count: 280)
        do {
            let seed = try kernel.instantiate(parameters: values, gradients: grads)
            #expect(seed.parameters.baseAddress == values && Array(seed.parameters) == kernel.weights)
            #expect(UnsafeBufferPointer(start: grads, count: 280).allSatisfy { $0 == 0 })
            values[279] = 0.5  // the "optimizer" steps b_out in place
            let output = try seed.forward([Float](repeating: 1, count: 16), batch: 1)
            #expect(output.last == 1.5)
            try seed.backward([Float](repeating: 1, count: 16))
            #expect(grads[279] == 1)
        }
        #expect(values[279] == 0.5)  // releasing the kernel left the caller's memory alone
    }

    @Test func initialisationIsDeterministic() throws {
        let spec = bottleneck(width: 64, hidden: 32)
        #expect(try spec.initialParameters(seed: 9) == spec.initialParameters(seed: 9))
        #expect(try spec.initialParameters(seed: 9) != spec.initialParameters(seed: 10))
        let kernel = try CompiledKernel(blueprintId: "x", spec: spec, weights: try spec.initialParameters(seed: 9), seed: 9)
        let again = try CompiledKernel(
            blueprintId: "x", spec: spec.with(variant: .naive), weights: try spec.initialParameters(seed: 9), seed: 9)
        #expect(kernel.weightsSHA256 == again.weightsSHA256)  // the variant does not change the weights
    }

    @Test func invalidSpecsAreRejectedWithTheReason() {
        var grouped = KernelSpec(kind: .groupedLinear, width: 64)
        grouped.count = 5
        #expect(throws: KernelError.self) { try grouped.validate() }
        #expect(throws: KernelError.self) { try KernelSpec(kind: .linear, width: 0).validate() }
        #expect(throws: KernelError.self) { try KernelSpec(kind: .linear, width: 64, variant: .vector).validate() }
        #expect(throws: Never.self) { try KernelSpec.identity(width: 7).validate() }
        #expect(KernelVariant(name: "tiled-32x32x64") == .tiled(m: 32, n: 32, k: 64))
        #expect(KernelVariant(name: "tiled-0x1x1") == nil)
        #expect(KernelKind.allCases.allSatisfy { KernelKind(code: $0.code) == $0 })
    }

    @Test func artifactRoundTripIsBitExact() throws {
        let artifact = try sampleArtifact()
        let bytes = try artifact.encode()
        let decoded = try KernelArtifact.decode(bytes)
        #expect(decoded == artifact)
        #expect(try decoded.encode() == bytes)
        #expect(bytes.count % 64 == 0 && Array(bytes[0..<8]) == Array("ESPKRNL1".utf8))
        let header = try ArtifactHeader.decode(bytes[...])
        #expect(header.headerSizeMatches && header.width == 16 && header.outDim == 16 && header.tensorCount == 4)
        #expect(Checksum.hex(header.weightsSHA256) == artifact.weightsSHA256)
        #expect(header.bodySHA256 == Checksum.sha256(bytes[256...]))
        #expect(decoded.metadata["requested_parameters"]?["depth"]?.doubleValue == 0.1)  // doubles round-trip
        let kernel = try decoded.compiledKernel()
        #expect(kernel.weights == artifact.weights && kernel.spec == artifact.spec)
    }

    @Test func everyFlippedByteIsDetected() throws {
        let bytes = try sampleArtifact().encode()
        // Every byte of the header, and a spread of body bytes (metadata, table, data, padding).
        let positions = Array(0..<256) + Array(stride(from: 256, to: bytes.count, by: 37)) + [bytes.count - 1]
        for position in positions {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(throws: ArtifactError.self, "byte \(position)") { try KernelArtifact.decode(damaged) }
        }
        #expect(throws: ArtifactError.truncated(100)) { try KernelArtifact.decode(Array(bytes.prefix(100))) }
        #expect(throws: ArtifactError.self) { try KernelArtifact.decode(Array(bytes.dropLast())) }
    }

    @Test func aNewerFormatIsUnsupportedNotCorrupt() throws {
        var bytes = try sampleArtifact().encode()
        bytes[8] = 2  // format_version 2
        #expect(throws: ArtifactError.unsupportedFormat(2)) { try KernelArtifact.decode(bytes) }
        #expect(!ArtifactError.unsupportedFormat(2).isCorruption)
    }
}

extension ArtifactHeader {
    var headerSizeMatches: Bool { metaOffset == UInt64(ArtifactHeader.size) }
}
