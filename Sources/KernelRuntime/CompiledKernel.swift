/// A compiled, immutable kernel: its spec, its compiled (initial) weights and where they came
/// from. Shared freely (Urza caches these); every seed that grafts it gets its own `SeedKernel`
/// with a private copy of the weights, so nothing a seed learns leaks into the cache.
public final class CompiledKernel: Sendable {
    /// The blueprint this kernel was compiled from ("identity" for the built-in fallback).
    public let blueprintId: String
    public let spec: KernelSpec
    /// The compiled weights, laid out per `spec.tensors`.
    public let weights: [Float]
    /// Seed of the kernel's own randomness (dropout masks, fault generators).
    public let seed: UInt64
    /// SHA-256 of the weights as little-endian float32 bytes (the artifact's `weights_sha256`).
    public let weightsSHA256: String
    /// SHA-256 of the artifact file it was decoded from (nil for kernels built in memory).
    public let artifactSHA256: String?
    /// Marked unsafe by compile-time validation (quarantine-only templates).
    public let quarantined: Bool

    public init(
        blueprintId: String, spec: KernelSpec, weights: [Float], seed: UInt64,
        artifactSHA256: String? = nil, quarantined: Bool = false
    ) throws(KernelError) {
        try spec.validate()
        guard weights.count == spec.parameterCount else {
            throw KernelError.wrongLength(argument: "weights", expected: spec.parameterCount, actual: weights.count)
        }
        self.blueprintId = blueprintId
        self.spec = spec
        self.weights = weights
        self.seed = seed
        self.weightsSHA256 = WeightDigest.sha256Hex(weights)
        self.artifactSHA256 = artifactSHA256
        self.quarantined = quarantined
    }

    /// The pass-through kernel Kasmina falls back to when nothing else can be fetched.
    public static func identity(width: Int) throws(KernelError) -> CompiledKernel {
        try CompiledKernel(blueprintId: "identity", spec: .identity(width: width), weights: [], seed: 0)
    }

    public var width: Int { spec.width }
    public var parameterCount: Int { weights.count }

    /// Approximate memory held (for the kernel cache's byte budget).
    public var byteSize: Int { weights.count * MemoryLayout<Float>.size + 512 }

    /// A fresh runnable instance with its own copy of the weights.
    public func instantiate() throws(KernelError) -> SeedKernel { try SeedKernel(self) }

    /// A fresh instance whose parameters and gradients live in caller-owned memory of
    /// `parameterCount` floats each — e.g. a Tolaria `ParameterBlock`, so the host's optimizer
    /// steps the seed's parameters in place. The compiled weights are copied in and the
    /// gradients zeroed; the caller keeps both buffers alive, unmoved, for the kernel's lifetime.
    public func instantiate(
        parameters: UnsafeMutablePointer<Float>,
        gradients: UnsafeMutablePointer<Float>
    ) throws(KernelError) -> SeedKernel {
        try SeedKernel(self, buffers: (parameters, gradients))
    }
}
