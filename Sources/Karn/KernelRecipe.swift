/// How a template becomes a kernel: the kernel kind and how its sizes follow from the slot
/// width d and the template's (effective) parameters. Data, not code: Tezzeret interprets it
/// (one interpreter per kind), so the catalog stays one declaration. Parameter names refer to
/// the template's own parameters; the catalog check proves every one exists.
public enum KernelRecipe: Sendable, Equatable {
    case identity
    case linear(gain: String)
    case layerNorm(epsilon: String)
    case dropout(rate: String)
    case activation(RecipeActivation)
    case batchNorm(momentum: String)
    case maxPool(window: String)
    case layerScale(initial: String)
    /// Block-diagonal linear layer; `groups` must divide d.
    case groupedLinear(groups: String)
    case highway(gateBias: String)
    /// y = x + W_out act(... act(W_1 x)); zero-initialised W_out.
    case residualMLP(layers: RecipeSize, hidden: RecipeSize, activation: RecipeActivation)
    case gatedFFN(hidden: RecipeSize)
    case conv1d(window: RecipeSize, dilation: RecipeSize, channels: Int, causal: Bool, activation: RecipeActivation)
    case squeezeExcite(hidden: RecipeSize)
    /// d split into `tokens` slices that attend to each other; tokens must divide d.
    case sliceAttention(tokens: RecipeSize, rounds: RecipeSize)
    case memoryAttention(slots: String)
    /// `topK` nil: every expert (a dense soft mixture).
    case mixture(experts: String, topK: RecipeSize?)
    /// Average pooling into `bins`, `bins`·2, ... bins over `levels` levels, then a projection.
    case poolProject(bins: RecipeSize, levels: RecipeSize)
    case denseBlock(growth: String, layers: Int)
    case positional(amplitude: String)
    case recurrent(steps: String, stepSize: RecipeStepSize)
    case nasMixture(temperature: String)
    /// The adversarial kinds; `parameter` is the fault's strength (06 §7).
    case fault(RecipeFault, parameter: String)
    /// Net2Net-style growth of a host layer by `units` hidden units (the widening family): the
    /// kernel's shape (layer l's input width, the next layer's width) is the host's, known only
    /// at germination, so Kasmina builds it on the `ck_widen_*` kernels rather than Tezzeret.
    case widen(units: Int)
    /// A conv branch beside a host layer (the structure family, `ConvBranchBlueprint`): shaped
    /// by the host's layer widths at germination, so Kasmina builds it on `ck_conv_branch_*`.
    case convBranch(channels: Int)
    /// A residual conv1d layer inserted after a conv layer of a conv host (the depth family,
    /// `DepthCatalog`): shaped by that layer's output, so Kasmina builds it on `ck_conv1d_*`.
    case convInsert(kernelSize: Int)

    /// The kernel kind's name (`KernelKind.rawValue` in KernelRuntime).
    public var kind: String {
        switch self {
        case .identity: "identity"
        case .linear: "linear"
        case .layerNorm: "layer_norm"
        case .dropout: "dropout"
        case .activation: "activation"
        case .batchNorm: "batch_norm"
        case .maxPool: "max_pool"
        case .layerScale: "layer_scale"
        case .groupedLinear: "grouped_linear"
        case .highway: "highway"
        case .residualMLP: "residual_mlp"
        case .gatedFFN: "gated_ffn"
        case .conv1d: "conv1d"
        case .squeezeExcite: "squeeze_excite"
        case .sliceAttention: "slice_attention"
        case .memoryAttention: "memory_attention"
        case .mixture: "mixture"
        case .poolProject: "pool_project"
        case .denseBlock: "dense_block"
        case .positional: "positional"
        case .recurrent: "recurrent"
        case .nasMixture: "nas_mixture"
        case .fault(let fault, _): "fault_\(fault.rawValue)"
        case .widen: "widen"
        case .convBranch: "conv_branch"
        case .convInsert: "conv_insert"
        }
    }

    /// Every template parameter the recipe reads.
    public var parameterNames: [String] {
        switch self {
        case .identity, .activation, .widen, .convBranch, .convInsert: []
        case .linear(let p), .layerNorm(let p), .dropout(let p), .batchNorm(let p), .maxPool(let p), .layerScale(let p),
            .groupedLinear(let p), .highway(let p), .memoryAttention(let p), .positional(let p), .nasMixture(let p):
            [p]
        case .residualMLP(let layers, let hidden, _): [layers.parameterName, hidden.parameterName].compactMap { $0 }
        case .gatedFFN(let hidden), .squeezeExcite(let hidden): [hidden.parameterName].compactMap { $0 }
        case .conv1d(let window, let dilation, _, _, _): [window.parameterName, dilation.parameterName].compactMap { $0 }
        case .sliceAttention(let tokens, let rounds): [tokens.parameterName, rounds.parameterName].compactMap { $0 }
        case .mixture(let experts, let topK): [experts, topK?.parameterName].compactMap { $0 }
        case .poolProject(let bins, let levels): [bins.parameterName, levels.parameterName].compactMap { $0 }
        case .denseBlock(let growth, _): [growth]
        case .recurrent(let steps, _): [steps]
        case .fault(_, let parameter): [parameter]
        }
    }
}

/// A kernel size as a function of the slot width d and the effective parameters.
public enum RecipeSize: Sendable, Equatable {
    case fixed(Int)
    /// The parameter's value (rounded half away from zero).
    case parameter(String)
    /// 2 r + 1 taps for radius r.
    case oddWindow(radius: String)
    /// 2^p.
    case powerOfTwo(String)
    /// d · k.
    case widthTimes(Int)
    /// max(1, ⌊d / k⌋): a fixed bottleneck ratio.
    case widthOver(Int)
    /// round(d · p).
    case widthTimesParameter(String)
    /// max(1, ⌊d / p⌋) (a reduction ratio).
    case widthOverParameter(String)
    /// d / p exactly; p must divide d (a slice size).
    case widthDividedByParameter(String)
    /// The largest divisor of d that is at most k.
    case largestDivisorOfWidthAtMost(Int)

    public var parameterName: String? {
        switch self {
        case .fixed, .widthTimes, .widthOver, .largestDivisorOfWidthAtMost: nil
        case .parameter(let p), .oddWindow(let p), .powerOfTwo(let p), .widthTimesParameter(let p),
            .widthOverParameter(let p), .widthDividedByParameter(let p):
            p
        }
    }
}

public enum RecipeActivation: String, Sendable, Equatable {
    case relu, gelu, tanh
}

public enum RecipeStepSize: String, Sendable, Equatable {
    /// 1 / steps: an Euler integration over unit time (neural ODE).
    case reciprocalOfSteps
    /// 1: plain weight-tied recursion.
    case one
}

public enum RecipeFault: String, Sendable, Equatable, CaseIterable {
    case exploding, vanishing, nan, spin, leak, deadlock, race, noise, hang
}
