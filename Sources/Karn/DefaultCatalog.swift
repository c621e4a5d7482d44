/// The 50 default templates (05 §3): one declaration, one row per template, in registration
/// order. Each row: id, name, tier, risk, curriculum stage, description, approval/quarantine
/// flags, typed parameter bounds, and the kernel recipe (how Tezzeret builds it for a slot of
/// width d). `KarnCatalog` checks the whole table when it loads (counts, id order, tier rules,
/// bounds, recipe parameters).
///
/// The templates name architectures that usually need a spatial or sequence axis; a seed slot
/// only has [batch, d]. The recipes map each to a kernel over the feature axis: convolutions
/// and pools run along the d features, attention lets slices of the features (or learned
/// memory slots) attend to each other, and the adversarial tier gets the fault kernels.
import Leyline

enum DefaultCatalog {
    static let rows: [BlueprintTemplate] = [
        row("BP001", "identity_passthrough", .safe, 0.0, 0, "Identity pass-through block", .none, [], .identity),
        row(
            "BP002", "linear_projection", .safe, 0.1, 0, "Linear projection layer", .none,
            [real("scale", 0.5, 2)], .linear(gain: "scale")),
        row(
            "BP003", "layer_norm_basic", .safe, 0.1, 0, "Layer normalization", .none,
            [real("epsilon", 1e-06, 0.001)], .layerNorm(epsilon: "epsilon")),
        row(
            "BP004", "dropout_light", .safe, 0.2, 0, "Lightweight dropout", .none,
            [real("dropout", 0, 0.4)], .dropout(rate: "dropout")),
        row("BP005", "relu_activation", .safe, 0.1, 0, "ReLU activation", .none, [], .activation(.relu)),
        row(
            "BP006", "batch_norm_1d", .safe, 0.2, 0, "1D batch normalization", .none,
            [real("momentum", 0.5, 0.99)], .batchNorm(momentum: "momentum")),
        row(
            "BP007", "pooling_max", .safe, 0.2, 0, "Max pooling block", .none,
            [int("kernel", 2, 5)], .maxPool(window: "kernel")),
        // A skip connection around a d → d/2 → d bottleneck (the adapter of the acceptance
        // experiment: 16 → 8 → 16 adds 280 parameters).
        row(
            "BP008", "skip_connection", .safe, 0.2, 1, "Skip connection", .none, [],
            .residualMLP(layers: .fixed(1), hidden: .widthOver(2), activation: .relu)),
        row(
            "BP009", "residual_block", .safe, 0.3, 1, "Residual block", .none,
            [int("depth", 1, 4)], .residualMLP(layers: .parameter("depth"), hidden: .widthTimes(1), activation: .relu)),
        row(
            "BP010", "concat_fusion", .safe, 0.3, 1, "Concatenation fusion block", .none,
            [int("branches", 2, 4)],
            .residualMLP(layers: .fixed(1), hidden: .widthTimesParameter("branches"), activation: .relu)),
        row("BP011", "gelu_activation", .safe, 0.2, 1, "GELU activation", .none, [], .activation(.gelu)),
        row(
            "BP012", "layer_scaling", .safe, 0.3, 1, "Layer scaling block", .none,
            [real("scale", 0.8, 1.2)], .layerScale(initial: "scale")),
        row(
            "BP013", "grouped_conv", .safe, 0.4, 1, "Grouped convolution", .none,
            [int("groups", 2, 8)], .groupedLinear(groups: "groups")),
        row(
            "BP014", "highway_gate", .safe, 0.4, 1, "Highway gating block", .none,
            [real("gate_bias", -3, 3)], .highway(gateBias: "gate_bias")),
        row(
            "BP015", "depthwise_separable", .safe, 0.4, 2, "Depthwise separable convolution", .none,
            [int("kernel", 3, 7)],
            .conv1d(window: .parameter("kernel"), dilation: .fixed(1), channels: 4, causal: false, activation: .relu)),
        row(
            "BP016", "squeeze_excitation", .safe, 0.4, 2, "Squeeze-and-Excitation block", .none,
            [int("reduction", 4, 16)], .squeezeExcite(hidden: .widthOverParameter("reduction"))),
        row(
            "BP017", "channel_attention", .safe, 0.4, 2, "Channel attention block", .none,
            [int("heads", 1, 4)], .sliceAttention(tokens: .parameter("heads"), rounds: .fixed(1))),
        row(
            "BP018", "conv_tanh_block", .safe, 0.4, 2, "Residual 1-D convolution over the features (2·radius+1 taps, tanh)", .none,
            [int("radius", 1, 3)],
            .conv1d(window: .oddWindow(radius: "radius"), dilation: .fixed(1), channels: 4, causal: false, activation: .tanh)),
        row(
            "BP019", "slice_attention_heads", .safe, 0.5, 2, "Self-attention among `heads` feature slices (one input)", .none,
            [int("heads", 2, 4)], .sliceAttention(tokens: .parameter("heads"), rounds: .fixed(1))),
        row(
            "BP020", "attention_single_head", .safe, 0.5, 2, "Single-head attention", .none,
            [int("sequence_length", 16, 256)], .memoryAttention(slots: "sequence_length")),
        row(
            "BP021", "feedforward_gated", .safe, 0.5, 2, "Gated feed-forward block", .none,
            [real("hidden_multiple", 2, 6)], .gatedFFN(hidden: .widthTimesParameter("hidden_multiple"))),
        row(
            "BP022", "slice_attention_4", .safe, 0.5, 3, "Self-attention among 4-6 feature slices", .none,
            [int("heads", 4, 6)], .sliceAttention(tokens: .parameter("heads"), rounds: .fixed(1))),
        row(
            "BP023", "gelu_residual_mlp", .safe, 0.5, 3, "Residual GELU MLP stack (`layers` of 2d hidden units)", .none,
            [int("layers", 1, 6)], .residualMLP(layers: .parameter("layers"), hidden: .widthTimes(2), activation: .gelu)),
        row(
            "BP024", "conv_gelu_block", .safe, 0.5, 3, "Residual 1-D convolution over the features (8 channels, GELU)", .none,
            [int("kernel", 3, 11)],
            .conv1d(window: .parameter("kernel"), dilation: .fixed(1), channels: 8, causal: false, activation: .gelu)),
        row(
            "BP025", "dense_expert_mixture", .safe, 0.5, 3, "Dense softmax-gated mixture of linear experts", .none,
            [int("experts", 2, 8)], .mixture(experts: "experts", topK: nil)),
        row(
            "BP026", "adaptive_pooling", .safe, 0.5, 3, "Adaptive pooling head", .none,
            [int("output_size", 4, 16)], .poolProject(bins: .parameter("output_size"), levels: .fixed(1))),
        row(
            "BP027", "feature_pyramid", .safe, 0.5, 3, "Feature pyramid fusion", .none,
            [int("levels", 3, 5)], .poolProject(bins: .fixed(1), levels: .parameter("levels"))),
        row(
            "BP028", "dense_connection", .safe, 0.5, 3, "Dense connection block", .none,
            [int("growth_rate", 8, 48)], .denseBlock(growth: "growth_rate", layers: 3)),
        row(
            "BP029", "slice_attention_8", .safe, 0.5, 4, "Self-attention among 8-10 feature slices", .none,
            [int("heads", 8, 10)], .sliceAttention(tokens: .parameter("heads"), rounds: .fixed(1))),
        row(
            "BP030", "iterated_slice_attention", .safe, 0.5, 4, "Weight-tied rounds (`hops`) of slice self-attention", .none,
            [int("hops", 1, 3)], .sliceAttention(tokens: .largestDivisorOfWidthAtMost(8), rounds: .parameter("hops"))),
        row(
            "BP031", "temporal_conv", .safe, 0.5, 4, "Temporal convolution", .none,
            [int("dilation", 1, 5)],
            .conv1d(window: .fixed(3), dilation: .parameter("dilation"), channels: 4, causal: true, activation: .relu)),
        row(
            "BP032", "dilated_conv", .safe, 0.5, 4, "Dilated convolution stack", .none,
            [int("dilation", 1, 8)],
            .conv1d(window: .fixed(3), dilation: .parameter("dilation"), channels: 4, causal: false, activation: .relu)),
        row(
            "BP033", "grouped_projection", .safe, 0.5, 4, "Block-diagonal (grouped) linear projection", .none,
            [int("offset_groups", 1, 4)], .groupedLinear(groups: "offset_groups")),
        row(
            "BP034", "non_local_block", .safe, 0.5, 4, "Non-local attention block", .none,
            [int("window", 4, 16)], .sliceAttention(tokens: .widthDividedByParameter("window"), rounds: .fixed(1))),
        row(
            "BP035", "learned_positional", .safe, 0.5, 4, "Learned positional encoding", .none,
            [real("frequency", 0.1, 1)], .positional(amplitude: "frequency")),
        row(
            "BP036", "mixture_of_experts_4", .experimental, 0.7, 5, "Mixture-of-Experts block (4 experts)", .approval,
            [int("experts", 4, 8), real("capacity", 1, 2)], .mixture(experts: "experts", topK: .parameter("capacity"))),
        row(
            "BP037", "slice_attention_pow2", .experimental, 0.7, 5, "Self-attention among 2^levels feature slices", .approval,
            [int("levels", 2, 4)], .sliceAttention(tokens: .powerOfTwo("levels"), rounds: .fixed(1))),
        row(
            "BP038", "memory_augmented", .experimental, 0.8, 5, "Memory-augmented block", .approval,
            [int("memory_slots", 32, 128)], .memoryAttention(slots: "memory_slots")),
        row(
            "BP039", "neural_ode_block", .experimental, 0.8, 5, "Neural ODE integration block", .approval,
            [int("steps", 1, 10)], .recurrent(steps: "steps", stepSize: .reciprocalOfSteps)),
        row(
            "BP040", "differentiable_nas", .experimental, 0.8, 5, "Differentiable NAS head", .approval,
            [real("temperature", 0.5, 2)], .nasMixture(temperature: "temperature")),
        row(
            "BP041", "euler_refinement_layer", .experimental, 0.8, 5, "Weight-tied Euler refinement (step 1/adapt_steps)", .approval,
            [int("adapt_steps", 1, 5)], .recurrent(steps: "adapt_steps", stepSize: .reciprocalOfSteps)),
        row(
            "BP042", "recursive_processing", .experimental, 0.8, 5, "Recursive processing block", .approval,
            [int("depth", 2, 6)], .recurrent(steps: "depth", stepSize: .one)),
        row(
            "BP043", "exploding_gradient", .highRisk, 0.9, 6, "Exploding gradient stressor", .approvalAndQuarantine,
            [real("scale", 5, 20)], .fault(.exploding, parameter: "scale")),
        row(
            "BP044", "vanishing_gradient", .highRisk, 0.9, 6, "Vanishing gradient stressor", .approvalAndQuarantine,
            [real("decay", 0, 0.1)], .fault(.vanishing, parameter: "decay")),
        row(
            "BP045", "nan_injection", .highRisk, 1.0, 6, "NaN injection adversarial template", .approvalAndQuarantine,
            [real("frequency", 0.01, 0.1)], .fault(.nan, parameter: "frequency")),
        row(
            "BP046", "infinite_loop", .highRisk, 1.0, 6, "Infinite loop adversarial template (never returns)", .approvalAndQuarantine,
            [int("iterations", 1000, 10000)], .fault(.hang, parameter: "iterations")),
        row(
            "BP047", "memory_leak", .highRisk, 1.0, 6, "Memory leak simulation", .approvalAndQuarantine,
            [real("growth_rate", 1, 5)], .fault(.leak, parameter: "growth_rate")),
        row(
            "BP048", "deadlock_pattern", .highRisk, 1.0, 6, "Deadlock pattern stressor", .approvalAndQuarantine,
            [int("threads", 2, 16)], .fault(.deadlock, parameter: "threads")),
        row(
            "BP049", "race_condition", .highRisk, 0.9, 6, "Race condition adversarial template", .approvalAndQuarantine,
            [int("window_ns", 10, 1000)], .fault(.race, parameter: "window_ns")),
        row(
            "BP050", "adversarial_noise", .highRisk, 0.9, 6, "Adversarial noise injection", .approvalAndQuarantine,
            [real("epsilon", 0.1, 1)], .fault(.noise, parameter: "epsilon")),
    ]

    enum Gate { case none, approval, approvalAndQuarantine }

    private static func row(
        _ id: String, _ name: String, _ tier: BlueprintTier, _ risk: Float, _ stage: Int,
        _ description: String, _ gate: Gate, _ parameters: [TemplateParameter],
        _ recipe: KernelRecipe
    ) -> BlueprintTemplate {
        let bounds = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.bounds) })
        let descriptor = BlueprintDescriptor(
            blueprintId: id, name: name, tier: tier, allowedParameters: bounds, risk: risk, stage: stage,
            quarantineOnly: gate == .approvalAndQuarantine, approvalRequired: gate != .none, description: description)
        return BlueprintTemplate(descriptor: descriptor, parameters: parameters, recipe: recipe)
    }

    private static func real(_ name: String, _ min: Double, _ max: Double) -> TemplateParameter {
        TemplateParameter(name, min, max, .real)
    }

    private static func int(_ name: String, _ min: Double, _ max: Double) -> TemplateParameter {
        TemplateParameter(name, min, max, .integer)
    }
}
