import EsperJSON
import EsperStorage
import Kernels

/// One named tensor of the policy.
public struct PolicyTensor: Sendable, Equatable, Codable {
    public var name: String
    public var shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// Why a weight file was refused.
public struct PolicyWeightsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The policy's parameters: every tensor of `PolicyWeights.layout(config)` in one flat
/// float32 buffer, in layout order. Immutable once built (a reload builds new weights and
/// swaps them atomically); `Sendable`.
///
/// File format (what Simic publishes as a `PolicyUpdate` payload and Tamiyo loads):
/// `ESPRPOL1`, UInt32 LE header length, header JSON `{"network": "esper-policy/1", "config":
/// {...}, "tensors": [{"name", "shape"}], "policy_version", "sha256"}`, then the floats
/// (little-endian) in tensor order; `sha256` covers the float bytes. Loading checks the
/// network id, every dimension, every tensor name and shape, and the checksum.
public struct PolicyWeights: Sendable, Equatable {
    /// `/2`: the blueprint head's metadata carries the run's measured family outcomes (10
    /// floats, not 6); `/1` files are refused by name.
    public static let network = "esper-policy/2"
    static let magic = Array("ESPRPOL1".utf8)

    public let config: PolicyNetworkConfig
    public let values: [Float]
    public let policyVersion: String
    let offsets: [String: Int]

    /// The tensors of a network with `config`, in storage order.
    public static func layout(_ c: PolicyNetworkConfig) -> [PolicyTensor] {
        [
            PolicyTensor(name: "stage_embedding", shape: [c.stageVocab, c.embeddingDim]),
            PolicyTensor(name: "blueprint_embedding", shape: [c.blueprintVocab, c.embeddingDim]),
            PolicyTensor(name: "trunk.0.weight", shape: [c.hiddenDim, c.inputDim]),
            PolicyTensor(name: "trunk.0.bias", shape: [c.hiddenDim]),
            PolicyTensor(name: "trunk.1.weight", shape: [c.hiddenDim, c.hiddenDim]),
            PolicyTensor(name: "trunk.1.bias", shape: [c.hiddenDim]),
            PolicyTensor(name: "action.weight", shape: [PolicyAction.allCases.count, c.hiddenDim]),
            PolicyTensor(name: "action.bias", shape: [PolicyAction.allCases.count]),
            PolicyTensor(name: "param.weight", shape: [1, c.hiddenDim]),
            PolicyTensor(name: "param.bias", shape: [1]),
            PolicyTensor(name: "value.weight", shape: [1, c.hiddenDim]),
            PolicyTensor(name: "value.bias", shape: [1]),
            PolicyTensor(name: "slot.weight", shape: [c.slotHiddenDim, c.hiddenDim + c.slotFeatureDim]),
            PolicyTensor(name: "slot.bias", shape: [c.slotHiddenDim]),
            PolicyTensor(name: "slot.score", shape: [c.slotHiddenDim]),
            PolicyTensor(name: "blueprint.query.weight", shape: [c.embeddingDim, c.hiddenDim]),
            PolicyTensor(name: "blueprint.query.bias", shape: [c.embeddingDim]),
            PolicyTensor(name: "blueprint.meta.weight", shape: [c.blueprintFeatureDim]),
            PolicyTensor(name: "blueprint.meta.bias", shape: [1]),
        ]
    }

    public static func parameterCount(_ config: PolicyNetworkConfig) -> Int { layout(config).reduce(0) { $0 + $1.count } }

    public init(config: PolicyNetworkConfig, values: [Float], policyVersion: String) throws(PolicyWeightsError) {
        let layout = PolicyWeights.layout(config)
        let expected = layout.reduce(0) { $0 + $1.count }
        guard values.count == expected else {
            throw PolicyWeightsError("\(values.count) values for a network of \(expected) parameters")
        }
        guard values.allSatisfy(\.isFinite) else { throw PolicyWeightsError("the weights hold NaN or Inf") }
        var offsets: [String: Int] = [:]
        var offset = 0
        for tensor in layout {
            offsets[tensor.name] = offset
            offset += tensor.count
        }
        self.config = config
        self.values = values
        self.policyVersion = policyVersion
        self.offsets = offsets
    }

    /// Deterministic initial weights: Xavier-uniform matrices, zero biases, embeddings
    /// U(−0.1, 0.1), from PCG32 seeded with `seed` (identical on every machine).
    public static func initial(
        config: PolicyNetworkConfig = PolicyNetworkConfig(), seed: UInt64 = 0x7A31_7000,
        policyVersion: String = "policy-init"
    ) -> PolicyWeights {
        var rng = RandomGenerator(seed: seed, stream: 77)
        var values: [Float] = []
        for tensor in layout(config) {
            var part = [Float](repeating: 0, count: tensor.count)
            part.withUnsafeMutableBufferPointer { buffer in
                let p = buffer.baseAddress!
                if tensor.name.hasSuffix("embedding") {
                    rng.initialiseUniform(p, count: tensor.count, low: -0.1, high: 0.1)
                } else if tensor.shape.count == 2 {
                    rng.initialiseWeights(p, count: tensor.count, fanIn: tensor.shape[1], fanOut: tensor.shape[0], scheme: .xavierUniform)
                } else if tensor.name == "slot.score" || tensor.name == "blueprint.meta.weight" {
                    rng.initialiseUniform(p, count: tensor.count, low: -0.5, high: 0.5)
                }
            }
            values += part
        }
        // Valid by construction.
        return try! PolicyWeights(config: config, values: values, policyVersion: policyVersion)
    }

    /// The values of one tensor.
    public func tensor(_ name: String) -> ArraySlice<Float>? {
        guard let offset = offsets[name], let shape = PolicyWeights.layout(config).first(where: { $0.name == name }) else { return nil }
        return values[offset..<(offset + shape.count)]
    }

    /// SHA-256 (hex) of the float bytes (little-endian).
    public var sha256: String { Checksum.sha256Hex(floatBytes) }

    var floatBytes: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 } }
        return bytes
    }

    struct Header: Codable {
        var network: String
        var config: PolicyNetworkConfig
        var tensors: [PolicyTensor]
        var policyVersion: String
        var sha256: String
    }

    /// The weight file / `PolicyUpdate` payload.
    public func encoded() -> [UInt8] {
        let floats = floatBytes
        let header = Header(
            network: PolicyWeights.network, config: config, tensors: PolicyWeights.layout(config),
            policyVersion: policyVersion, sha256: Checksum.sha256Hex(floats))
        // Plain data: encoding cannot fail.
        let json = try! JanssonEncoder().encode(header)
        var bytes = PolicyWeights.magic
        withUnsafeBytes(of: UInt32(json.count).littleEndian) { bytes += $0 }
        return bytes + json + floats
    }

    /// Reads a weight file, refusing anything that is not exactly this network.
    public init(decoding bytes: [UInt8], expecting expected: PolicyNetworkConfig = PolicyNetworkConfig()) throws(PolicyWeightsError) {
        guard bytes.count >= 12, Array(bytes[0..<8]) == PolicyWeights.magic else { throw PolicyWeightsError("not a policy weight file") }
        let length = Int(UInt32(bytes[8]) | UInt32(bytes[9]) << 8 | UInt32(bytes[10]) << 16 | UInt32(bytes[11]) << 24)
        guard bytes.count >= 12 + length else { throw PolicyWeightsError("truncated header") }
        let header: Header
        do {
            header = try JanssonDecoder().decode(Header.self, from: Array(bytes[12..<(12 + length)]))
        } catch {
            throw PolicyWeightsError("unreadable header: \(error)")
        }
        guard header.network == PolicyWeights.network else {
            throw PolicyWeightsError("network '\(header.network)' is not \(PolicyWeights.network)")
        }
        guard header.config == expected else { throw PolicyWeightsError("network dimensions differ from this policy's") }
        let layout = PolicyWeights.layout(expected)
        guard header.tensors == layout else {
            let wanted = layout.map { "\($0.name)\($0.shape)" }, got = header.tensors.map { "\($0.name)\($0.shape)" }
            let first =
                zip(wanted, got).first { $0 != $1 }.map { "\($0.1) where \($0.0) was expected" }
                ?? "\(got.count) tensors, \(wanted.count) expected"
            throw PolicyWeightsError("tensor table mismatch: \(first)")
        }
        let floats = Array(bytes[(12 + length)...])
        let count = layout.reduce(0) { $0 + $1.count }
        guard floats.count == count * 4 else { throw PolicyWeightsError("\(floats.count / 4) values, \(count) expected") }
        guard Checksum.sha256Hex(floats) == header.sha256 else { throw PolicyWeightsError("checksum mismatch") }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            let b = 4 * i
            let bits = UInt32(floats[b]) | UInt32(floats[b + 1]) << 8 | UInt32(floats[b + 2]) << 16 | UInt32(floats[b + 3]) << 24
            values[i] = Float(bitPattern: bits)
        }
        try self.init(config: expected, values: values, policyVersion: header.policyVersion)
    }
}
