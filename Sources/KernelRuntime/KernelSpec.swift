public import Kernels

/// The complete shape of one seed kernel: its kind, the slot width `width` (input and output
/// are [batch, width]), the kind-specific sizes, and the variant its loops run as. A plain
/// value: Tezzeret derives it from a template and parameters, the artifact stores it, and the
/// C library re-validates it on every call. Field meanings per kind: `ckernels_seeds.h`.
public struct KernelSpec: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Largest slot width a kernel supports.
    public static let maxWidth = SeedShape.maxWidth

    public var kind: KernelKind
    public var width: Int
    public var hidden = 0
    public var count = 0
    public var rounds = 0
    public var window = 0
    public var dilation = 0
    public var topK = 0
    public var activation = KernelActivation.identity
    public var causal = false
    public var iterations = 0
    public var scalar: Float = 0
    public var variant: KernelVariant

    public init(kind: KernelKind, width: Int, variant: KernelVariant? = nil) {
        self.kind = kind
        self.width = width
        self.variant = variant ?? KernelVariant.defaultVariant(for: kind)
    }

    /// An identity kernel of any width: the last link of Kasmina's fallback chain.
    public static func identity(width: Int) -> KernelSpec { KernelSpec(kind: .identity, width: width) }

    /// The same spec with another variant.
    public func with(variant: KernelVariant) -> KernelSpec {
        var copy = self
        copy.variant = variant
        return copy
    }

    /// The C interface's view; nil when a size does not fit its 32-bit field.
    var seedShape: SeedShape? {
        func u32(_ value: Int) -> UInt32? { value >= 0 && value <= Int(UInt32.max) ? UInt32(value) : nil }
        guard let d = u32(width), let hidden = u32(hidden), let count = u32(count), let rounds = u32(rounds),
            let window = u32(window), let dilation = u32(dilation), let topK = u32(topK),
            let iterations = u32(iterations)
        else { return nil }
        let tile = variant.tile
        return SeedShape(
            kind: kind.code, width: d, hidden: hidden, count: count, rounds: rounds, window: window,
            dilation: dilation, topK: topK, activation: activation.code, causal: causal,
            iterations: iterations, scalar: scalar, variant: variant.id, tile: tile)
    }

    /// Throws unless the C library accepts the spec (kind rules, divisibility, the 100 MB cap).
    public func validate() throws(KernelError) {
        guard let shape = seedShape else { throw KernelError.invalidSpec(status: KernelStatus.size, spec: description) }
        let status = shape.validate()
        if status != KernelStatus.ok { throw KernelError.invalidSpec(status: status, spec: description) }
    }

    /// Floats in the flat parameter buffer (and in the gradient buffer).
    public var parameterCount: Int {
        seedShape?.parameterCount ?? 0
    }

    /// Floats of workspace one forward/backward over `batch` rows needs.
    public func workspaceCount(batch: Int) -> Int {
        guard let shape = seedShape, batch >= 0 else { return 0 }
        return shape.workspaceCount(batch: batch)
    }

    /// Floats of persistent state (batch-norm running statistics).
    public var stateCount: Int {
        seedShape?.stateCount ?? 0
    }

    /// Approximate floating-point operations of one forward over `batch` rows.
    public func forwardFlops(batch: Int) -> Double {
        guard let shape = seedShape, batch >= 0 else { return 0 }
        return shape.forwardFlops(batch: batch)
    }

    /// The tensor table: names, shapes and where each lives in the parameter buffer.
    public var tensors: [KernelTensor] { seedShape?.tensors ?? [] }

    /// Deterministic initial parameters for `seed` (SplitMix64 per tensor; identical on every
    /// platform): the compiled weights an artifact carries.
    public func initialParameters(seed: UInt64) throws(KernelError) -> [Float] {
        try validate()
        guard let shape = seedShape else { throw KernelError.invalidSpec(status: KernelStatus.size, spec: description) }
        var parameters = [Float](repeating: 0, count: parameterCount)
        let status = parameters.withUnsafeMutableBufferPointer { shape.initialiseParameters($0.baseAddress, seed: seed) }
        if status != KernelStatus.ok { throw KernelError.invalidSpec(status: status, spec: description) }
        return parameters
    }

    public var description: String {
        var parts = ["\(kind.rawValue) d=\(width)"]
        for (name, value) in [
            ("hidden", hidden), ("count", count), ("rounds", rounds), ("window", window),
            ("dilation", dilation), ("top_k", topK), ("iterations", iterations),
        ] where value != 0 {
            parts.append("\(name)=\(value)")
        }
        if activation != .identity { parts.append("activation=\(activation.rawValue)") }
        if causal { parts.append("causal") }
        if scalar != 0 { parts.append("scalar=\(scalar)") }
        parts.append("variant=\(variant)")
        return parts.joined(separator: " ")
    }
}
