import Kernels

/// How a kernel's inner loops run. Every variant of a kind computes the same function (up to
/// float rounding); Tezzeret times them and records the fastest in the artifact.
public enum KernelVariant: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Plain loops: the reference every other variant is checked against.
    case naive
    /// OpenBLAS sgemm.
    case blas
    /// Cache-blocked GEMM with m x n x k tiles.
    case tiled(m: Int, n: Int, k: Int)
    /// One element per iteration.
    case scalar
    /// 8-wide restrict-qualified loops the compiler vectorises.
    case vector

    /// The tile triples of the design (06 §5).
    public static let standardTiles: [KernelVariant] = [
        .tiled(m: 16, n: 16, k: 64), .tiled(m: 32, n: 32, k: 64), .tiled(m: 32, n: 32, k: 128),
        .tiled(m: 64, n: 64, k: 128), .tiled(m: 64, n: 64, k: 256),
    ]

    /// `variant_id` in the artifact header (the `ck_seed_variant` value).
    public var id: UInt32 {
        switch self {
        case .naive: SeedVariantCode.naive
        case .blas: SeedVariantCode.blas
        case .tiled: SeedVariantCode.tiled
        case .scalar: SeedVariantCode.scalar
        case .vector: SeedVariantCode.vector
        }
    }

    /// Tile sizes (zeros unless tiled).
    public var tile: (m: UInt32, n: UInt32, k: UInt32) {
        if case .tiled(let m, let n, let k) = self { return (UInt32(m), UInt32(n), UInt32(k)) }
        return (0, 0, 0)
    }

    /// Rebuilds a variant from the header fields; nil for unknown ids or inconsistent tiles.
    public init?(id: UInt32, tile: (UInt32, UInt32, UInt32)) {
        let hasTile = tile.0 != 0 || tile.1 != 0 || tile.2 != 0
        switch id {
        case SeedVariantCode.naive where !hasTile: self = .naive
        case SeedVariantCode.blas where !hasTile: self = .blas
        case SeedVariantCode.scalar where !hasTile: self = .scalar
        case SeedVariantCode.vector where !hasTile: self = .vector
        case SeedVariantCode.tiled where tile.0 > 0 && tile.1 > 0 && tile.2 > 0:
            self = .tiled(m: Int(tile.0), n: Int(tile.1), k: Int(tile.2))
        default: return nil
        }
    }

    /// "naive", "blas", "tiled-32x32x64", "scalar", "vector".
    public var description: String {
        switch self {
        case .naive: "naive"
        case .blas: "blas"
        case .tiled(let m, let n, let k): "tiled-\(m)x\(n)x\(k)"
        case .scalar: "scalar"
        case .vector: "vector"
        }
    }

    public init?(name: String) {
        switch name {
        case "naive": self = .naive
        case "blas": self = .blas
        case "scalar": self = .scalar
        case "vector": self = .vector
        default:
            guard name.hasPrefix("tiled-") else { return nil }
            let sizes = name.dropFirst(6).split(separator: "x").compactMap { Int($0) }
            guard sizes.count == 3, sizes.allSatisfy({ (1...4096).contains($0) }) else { return nil }
            self = .tiled(m: sizes[0], n: sizes[1], k: sizes[2])
        }
    }

    /// The variant a kind uses when nothing was tuned (Emergency strategy, noisy timings).
    public static func defaultVariant(for kind: KernelKind) -> KernelVariant {
        switch kind.variantFamily {
        case .matmul: .blas
        case .elementwise: .vector
        case .single: .naive
        }
    }

    /// Every variant a kind accepts, the default first.
    public static func candidates(for kind: KernelKind) -> [KernelVariant] {
        switch kind.variantFamily {
        case .matmul: [.blas, .naive] + standardTiles
        case .elementwise: [.vector, .scalar]
        case .single: [.naive]
        }
    }

    /// The reference the autotuner checks candidates against.
    public static func reference(for kind: KernelKind) -> KernelVariant {
        kind.variantFamily == .elementwise ? .scalar : .naive
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let variant = KernelVariant(name: name) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown kernel variant '\(name)'"))
        }
        self = variant
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
