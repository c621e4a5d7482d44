// KernelRuntime: seed kernels as Swift values — their shape (KernelSpec), the runnable instance
// a seed slot owns (SeedKernel), and the checksummed artifact file (.esk) that carries them from
// Tezzeret through Urza to Kasmina. The numerics live in CKernels (ckernels_seeds.h), called
// through Kernels' seed interface.
import Kernels

/// What a seed kernel computes (one C implementation each; see ckernels_seeds.h for formulas).
/// The raw value is the name used in artifacts, the catalog and the API.
public enum KernelKind: String, CaseIterable, Sendable, Codable {
    case identity
    case linear
    case layerNorm = "layer_norm"
    case dropout
    case activation
    case batchNorm = "batch_norm"
    case maxPool = "max_pool"
    case layerScale = "layer_scale"
    case groupedLinear = "grouped_linear"
    case highway
    case residualMLP = "residual_mlp"
    case gatedFFN = "gated_ffn"
    case conv1d
    case squeezeExcite = "squeeze_excite"
    case sliceAttention = "slice_attention"
    case memoryAttention = "memory_attention"
    case mixture
    case poolProject = "pool_project"
    case denseBlock = "dense_block"
    case positional
    case recurrent
    case nasMixture = "nas_mixture"
    case faultExploding = "fault_exploding"
    case faultVanishing = "fault_vanishing"
    case faultNaN = "fault_nan"
    case faultSpin = "fault_spin"
    case faultLeak = "fault_leak"
    case faultDeadlock = "fault_deadlock"
    case faultRace = "fault_race"
    case faultNoise = "fault_noise"
    case faultHang = "fault_hang"

    /// The `ck_seed_kind` value (also the artifact header's `kind` field).
    public var code: UInt32 {
        switch self {
        case .identity: SeedKindCode.identity
        case .linear: SeedKindCode.linear
        case .layerNorm: SeedKindCode.layerNorm
        case .dropout: SeedKindCode.dropout
        case .activation: SeedKindCode.activation
        case .batchNorm: SeedKindCode.batchNorm
        case .maxPool: SeedKindCode.maxPool
        case .layerScale: SeedKindCode.layerScale
        case .groupedLinear: SeedKindCode.groupedLinear
        case .highway: SeedKindCode.highway
        case .residualMLP: SeedKindCode.residualMLP
        case .gatedFFN: SeedKindCode.gatedFFN
        case .conv1d: SeedKindCode.conv1d
        case .squeezeExcite: SeedKindCode.squeezeExcite
        case .sliceAttention: SeedKindCode.sliceAttention
        case .memoryAttention: SeedKindCode.memoryAttention
        case .mixture: SeedKindCode.mixture
        case .poolProject: SeedKindCode.poolProject
        case .denseBlock: SeedKindCode.denseBlock
        case .positional: SeedKindCode.positional
        case .recurrent: SeedKindCode.recurrent
        case .nasMixture: SeedKindCode.nasMixture
        case .faultExploding: SeedKindCode.faultExploding
        case .faultVanishing: SeedKindCode.faultVanishing
        case .faultNaN: SeedKindCode.faultNaN
        case .faultSpin: SeedKindCode.faultSpin
        case .faultLeak: SeedKindCode.faultLeak
        case .faultDeadlock: SeedKindCode.faultDeadlock
        case .faultRace: SeedKindCode.faultRace
        case .faultNoise: SeedKindCode.faultNoise
        case .faultHang: SeedKindCode.faultHang
        }
    }

    public init?(code: UInt32) {
        guard let kind = KernelKind.allCases.first(where: { $0.code == code }) else { return nil }
        self = kind
    }

    /// The deliberately misbehaving kinds behind the HIGH_RISK templates.
    public var isFault: Bool { rawValue.hasPrefix("fault_") }

    /// Which variants Tezzeret's autotuner may choose between.
    public var variantFamily: VariantFamily {
        switch self {
        case .identity, .layerNorm, .batchNorm, .maxPool: .single
        case .dropout, .activation, .layerScale, .positional, .nasMixture: .elementwise
        case _ where isFault: .single
        default: .matmul
        }
    }

    /// Kinds whose final projection starts at zero, so k(x) = x when grafted.
    public var startsAsIdentity: Bool {
        switch self {
        case .identity, .residualMLP, .gatedFFN, .conv1d, .squeezeExcite, .sliceAttention, .memoryAttention,
            .mixture, .poolProject, .denseBlock, .recurrent:
            true
        default:
            isFault
        }
    }

    public enum VariantFamily: String, Sendable {
        /// naive, blas and tiled GEMMs.
        case matmul
        /// scalar and vector loops.
        case elementwise
        /// exactly one implementation (`naive`).
        case single
    }
}

/// Activation functions a kernel may use (`ck_activation`).
public enum KernelActivation: String, CaseIterable, Sendable, Codable {
    case identity, relu, gelu, tanh

    var code: UInt32 {
        switch self {
        case .identity: Activation.identity.code
        case .relu: Activation.relu.code
        case .gelu: Activation.gelu.code
        case .tanh: Activation.tanh.code
        }
    }

    init?(code: UInt32) {
        guard let activation = KernelActivation.allCases.first(where: { $0.code == code }) else { return nil }
        self = activation
    }
}
