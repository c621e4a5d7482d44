// KernelRuntime: seed kernels as Swift values — their shape (KernelSpec), the runnable instance
// a seed slot owns (SeedKernel), and the checksummed artifact file (.esk) that carries them from
// Tezzeret through Urza to Kasmina. The numerics live in CKernels (ckernels_seeds.h).
internal import CKernels

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
        case .identity: CK_SEED_IDENTITY.rawValue
        case .linear: CK_SEED_LINEAR.rawValue
        case .layerNorm: CK_SEED_LAYER_NORM.rawValue
        case .dropout: CK_SEED_DROPOUT.rawValue
        case .activation: CK_SEED_ACTIVATION.rawValue
        case .batchNorm: CK_SEED_BATCH_NORM.rawValue
        case .maxPool: CK_SEED_MAX_POOL.rawValue
        case .layerScale: CK_SEED_LAYER_SCALE.rawValue
        case .groupedLinear: CK_SEED_GROUPED_LINEAR.rawValue
        case .highway: CK_SEED_HIGHWAY.rawValue
        case .residualMLP: CK_SEED_RESIDUAL_MLP.rawValue
        case .gatedFFN: CK_SEED_GATED_FFN.rawValue
        case .conv1d: CK_SEED_CONV1D.rawValue
        case .squeezeExcite: CK_SEED_SQUEEZE_EXCITE.rawValue
        case .sliceAttention: CK_SEED_SLICE_ATTENTION.rawValue
        case .memoryAttention: CK_SEED_MEMORY_ATTENTION.rawValue
        case .mixture: CK_SEED_MIXTURE.rawValue
        case .poolProject: CK_SEED_POOL_PROJECT.rawValue
        case .denseBlock: CK_SEED_DENSE_BLOCK.rawValue
        case .positional: CK_SEED_POSITIONAL.rawValue
        case .recurrent: CK_SEED_RECURRENT.rawValue
        case .nasMixture: CK_SEED_NAS_MIXTURE.rawValue
        case .faultExploding: CK_SEED_FAULT_EXPLODING.rawValue
        case .faultVanishing: CK_SEED_FAULT_VANISHING.rawValue
        case .faultNaN: CK_SEED_FAULT_NAN.rawValue
        case .faultSpin: CK_SEED_FAULT_SPIN.rawValue
        case .faultLeak: CK_SEED_FAULT_LEAK.rawValue
        case .faultDeadlock: CK_SEED_FAULT_DEADLOCK.rawValue
        case .faultRace: CK_SEED_FAULT_RACE.rawValue
        case .faultNoise: CK_SEED_FAULT_NOISE.rawValue
        case .faultHang: CK_SEED_FAULT_HANG.rawValue
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
        case .identity: CK_ACT_IDENTITY.rawValue
        case .relu: CK_ACT_RELU.rawValue
        case .gelu: CK_ACT_GELU.rawValue
        case .tanh: CK_ACT_TANH.rawValue
        }
    }

    init?(code: UInt32) {
        guard let activation = KernelActivation.allCases.first(where: { $0.code == code }) else { return nil }
        self = activation
    }
}
