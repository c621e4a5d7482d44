internal import CKernels

/// The complete shape of one seed kernel: its kind, the slot width `width` (input and output
/// are [batch, width]), the kind-specific sizes, and the variant its loops run as. A plain
/// value: Tezzeret derives it from a template and parameters, the artifact stores it, and the
/// C library re-validates it on every call. Field meanings per kind: `ckernels_seeds.h`.
public struct KernelSpec: Sendable, Equatable, Codable, CustomStringConvertible {
    /// Largest slot width a kernel supports.
    public static let maxWidth = Int(CK_SEED_MAX_WIDTH)

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

    /// The C struct; nil when a size does not fit its 32-bit field.
    var cSpec: ck_seed_spec? {
        func u32(_ value: Int) -> UInt32? { value >= 0 && value <= Int(UInt32.max) ? UInt32(value) : nil }
        guard let d = u32(width), let hidden = u32(hidden), let count = u32(count), let rounds = u32(rounds),
            let window = u32(window), let dilation = u32(dilation), let topK = u32(topK),
            let iterations = u32(iterations)
        else { return nil }
        let tile = variant.tile
        return ck_seed_spec(
            kind: kind.code, d: d, hidden: hidden, count: count, rounds: rounds, window: window,
            dilation: dilation, top_k: topK, activation: activation.code, causal: causal ? 1 : 0,
            iterations: iterations, scalar: scalar, variant: variant.id, tile_m: tile.m,
            tile_n: tile.n, tile_k: tile.k)
    }

    /// Throws unless the C library accepts the spec (kind rules, divisibility, the 100 MB cap).
    public func validate() throws(KernelError) {
        guard var c = cSpec else { throw KernelError.invalidSpec(status: CK_ERR_SIZE.rawValue, spec: description) }
        let status = ck_seed_validate(&c)
        if status != CK_OK.rawValue { throw KernelError.invalidSpec(status: status, spec: description) }
    }

    /// Floats in the flat parameter buffer (and in the gradient buffer).
    public var parameterCount: Int {
        guard var c = cSpec else { return 0 }
        return ck_seed_param_floats(&c)
    }

    /// Floats of workspace one forward/backward over `batch` rows needs.
    public func workspaceCount(batch: Int) -> Int {
        guard var c = cSpec, batch >= 0 else { return 0 }
        return ck_seed_workspace_floats(&c, batch)
    }

    /// Floats of persistent state (batch-norm running statistics).
    public var stateCount: Int {
        guard var c = cSpec else { return 0 }
        return ck_seed_state_floats(&c)
    }

    /// Approximate floating-point operations of one forward over `batch` rows.
    public func forwardFlops(batch: Int) -> Double {
        guard var c = cSpec, batch >= 0 else { return 0 }
        return ck_seed_forward_flops(&c, batch)
    }

    /// The tensor table: names, shapes and where each lives in the parameter buffer.
    public var tensors: [KernelTensor] {
        guard var c = cSpec else { return [] }
        let count = ck_seed_tensor_count(&c)
        return (0..<count).compactMap { index in
            var info = ck_seed_tensor()
            guard ck_seed_tensor_info(&c, index, &info) == CK_OK.rawValue else { return nil }
            return KernelTensor(info)
        }
    }

    /// Deterministic initial parameters for `seed` (SplitMix64 per tensor; identical on every
    /// platform): the compiled weights an artifact carries.
    public func initialParameters(seed: UInt64) throws(KernelError) -> [Float] {
        try validate()
        guard var c = cSpec else { throw KernelError.invalidSpec(status: CK_ERR_SIZE.rawValue, spec: description) }
        var parameters = [Float](repeating: 0, count: parameterCount)
        let status = parameters.withUnsafeMutableBufferPointer { ck_seed_init_params(&c, $0.baseAddress, seed) }
        if status != CK_OK.rawValue { throw KernelError.invalidSpec(status: status, spec: description) }
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

/// One named slice of a kernel's parameter buffer.
public struct KernelTensor: Sendable, Equatable {
    public enum Initialisation: Sendable, Equatable {
        case zero
        case constant(Float)
        /// U(-scale / sqrt(fanIn), +scale / sqrt(fanIn)).
        case uniform(scale: Float, fanIn: Int)
    }

    public let name: String
    public let shape: [Int]
    /// Offset in floats from the start of the parameter buffer.
    public let offset: Int
    public let count: Int
    public let initialisation: Initialisation

    init(_ info: ck_seed_tensor) {
        var raw = info.name
        name = withUnsafeBytes(of: &raw) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let dims = [info.dims.0, info.dims.1, info.dims.2, info.dims.3].map(Int.init)
        shape = Array(dims.prefix(Int(info.ndim)))
        offset = info.offset
        count = info.count
        switch info.init_rule {
        case CK_INIT_ZERO.rawValue: initialisation = .zero
        case CK_INIT_CONST.rawValue: initialisation = .constant(info.init_value)
        default: initialisation = .uniform(scale: info.init_value, fanIn: Int(info.fan_in))
        }
    }
}
