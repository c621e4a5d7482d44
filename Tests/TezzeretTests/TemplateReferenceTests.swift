import Foundation
import Karn
import KernelRuntime
import Kernels
import Testing

@testable import Tezzeret

/// Every slot template's compiled kernel (BP001–BP042, the non-fault ones) against a plain
/// double-precision reference of the operation its name states. The references are written
/// from the names and the one-line math of docs/blueprints.md (and ckernels_seeds.h), with
/// the sizes taken from the template's own parameters — not from the kernel spec — so a wrong
/// shape rule fails here too. Every tensor, including the zero-initialised output projections,
/// holds seeded random values so each path carries signal.
///
/// Tolerance: |kernel − reference| ≤ 1e-5 · (1 + |reference|) per output. The kernel runs in
/// float32 (unit roundoff u = 6e-8); on random data a K-term dot product errs by about √K·u
/// (K ≤ 384 here: ~1e-6 at worst), and the deepest chains are a few stacked products (BP021,
/// BP023) or 10 weight-tied steps (BP042) — the measured maximum over all 42 templates is
/// 7e-7 (BP042), so 1e-5 leaves a 15× margin. A wrong operation errs far more: another
/// activation, a transposed weight, a missing bias or residual, a reversed tap order errs by
/// O(0.1–1) at these input scales, and even GELU's exact erf form against the tanh form the
/// project uses differs by ~2e-4 (tried: each fails this test). The per-template maxima are
/// printed as `template-reference BPxxx …` lines.
@Suite struct TemplateReferenceTests {
    static let width = 64
    static let batch = 6
    static let tolerance = 1e-5

    // MARK: Building the kernel

    /// A template's compiled kernel, its effective parameters and its weights by tensor name.
    struct Setup {
        let kernel: SeedKernel
        let parameters: [String: Double]
        let weights: Weights
    }

    /// Named tensors in double precision; every lookup checks the shape the math needs.
    struct Weights {
        let tensors: [String: KernelTensor]
        let values: [Float]

        func values(_ name: String, _ shape: [Int]) throws -> [Double] {
            let tensor = try #require(tensors[name], "no tensor '\(name)' (have \(tensors.keys.sorted()))")
            try #require(tensor.shape == shape, "\(name) is \(tensor.shape), the operation needs \(shape)")
            return values[tensor.offset..<tensor.offset + tensor.count].map(Double.init)
        }

        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> Matrix {
            Matrix(rows: rows, cols: cols, values: try values(name, [rows, cols]))
        }
    }

    /// A row-major [rows, cols] matrix W acting on column vectors: W x.
    struct Matrix {
        let rows: Int
        let cols: Int
        let values: [Double]

        func callAsFunction(_ x: [Double]) -> [Double] {
            precondition(x.count == cols)
            return (0..<rows).map { r in
                var sum = 0.0
                for c in 0..<cols { sum += values[r * cols + c] * x[c] }
                return sum
            }
        }

        /// Rows lo..<hi as their own matrix (one branch or expert of a stacked weight).
        func rows(_ lo: Int, _ hi: Int) -> Matrix {
            Matrix(rows: hi - lo, cols: cols, values: Array(values[lo * cols..<hi * cols]))
        }
    }

    static func setup(_ id: String) throws -> Setup {
        let template = try #require(try KarnCatalog().template(id))
        let validated = try template.validate(template.forgeParameters)
        let forged = try ShapeBuilder.forgeSpec(for: template, effective: validated.effective, width: width)
        // Random values everywhere: U(±1.5/√fan_in) for matrices (fan_in = the last axis),
        // U(±0.5) for vectors (biases, gains, positions, architecture weights).
        var weights = [Float](repeating: 0, count: forged.spec.parameterCount)
        let tensors = forged.spec.tensors
        for (index, tensor) in tensors.enumerated() {
            let scale: Float = tensor.shape.count >= 2 ? 1.5 / Float(tensor.shape.last!).squareRoot() : 0.5
            let noise = ValidationGates.input(tensor.count, seed: 1000 + UInt64(index))
            for i in 0..<tensor.count { weights[tensor.offset + i] = scale * noise[i] }
        }
        let kernel = try CompiledKernel(blueprintId: id, spec: forged.spec, weights: weights, seed: 5).instantiate()
        kernel.step = 1
        kernel.training = false
        let byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        return Setup(kernel: kernel, parameters: forged.effective, weights: Weights(tensors: byName, values: weights))
    }

    // MARK: Plain math

    static func relu(_ v: Double) -> Double { max(0, v) }
    /// GELU as the project defines it (activation.c, docs): the tanh form of Hendrycks & Gimpel.
    static func gelu(_ v: Double) -> Double { 0.5 * v * (1 + tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) }
    static func sigmoid(_ v: Double) -> Double { 1 / (1 + exp(-v)) }
    static func softmax(_ v: [Double]) -> [Double] {
        let top = v.max()!
        let e = v.map { exp($0 - top) }
        let sum = e.reduce(0, +)
        return e.map { $0 / sum }
    }
    static func add(_ a: [Double], _ b: [Double]) -> [Double] { zip(a, b).map { $0 + $1 } }
    static func scaled(_ a: [Double], _ s: Double) -> [Double] { a.map { $0 * s } }
    static func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
    /// Population variance (the normalisations divide by n).
    static func variance(_ v: [Double]) -> Double {
        let m = mean(v)
        return v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)
    }

    // MARK: The named operations

    /// Inputs of one reference evaluation: the batch rows, the template's parameters, weights.
    struct Context {
        let x: [[Double]]
        let parameters: [String: Double]
        let w: Weights
        var d: Int { TemplateReferenceTests.width }

        func real(_ name: String) throws -> Double { try #require(parameters[name], "no parameter \(name)") }
        /// Integer parameters round half away from zero (Karn's rule).
        func int(_ name: String) throws -> Int { Int(try real(name).rounded(.toNearestOrAwayFromZero)) }
        func rows(_ f: ([Double]) throws -> [Double]) rethrows -> [[Double]] { try x.map(f) }
    }

    typealias Reference = @Sendable (Context) throws -> [[Double]]

    /// y = scale·(W x + b).
    static func linearProjection(_ c: Context) throws -> [[Double]] {
        let (w, b, s) = (try c.w.matrix("w", c.d, c.d), try c.w.values("b", [c.d]), try c.real("scale"))
        return c.rows { scaled(add(w($0), b), s) }
    }

    /// y = γ ⊙ (x − mean(x)) / √(var(x) + ε) + β over each row.
    static func layerNorm(_ c: Context) throws -> [[Double]] {
        let (g, b, eps) = (try c.w.values("gamma", [c.d]), try c.w.values("beta", [c.d]), try c.real("epsilon"))
        return c.rows { x in
            let (m, v) = (mean(x), variance(x))
            return (0..<c.d).map { g[$0] * (x[$0] - m) / (v + eps).squareRoot() + b[$0] }
        }
    }

    /// Training mode: each feature normalised by the batch's mean and population variance,
    /// ε = 1e-5 (the usual batch-norm default; docs/blueprints.md states it).
    static func batchNorm(_ c: Context) throws -> [[Double]] {
        let (g, b) = (try c.w.values("gamma", [c.d]), try c.w.values("beta", [c.d]))
        let columns = (0..<c.d).map { j in c.x.map { $0[j] } }
        let stats: [(mean: Double, variance: Double)] = columns.map { (mean($0), variance($0)) }
        return c.rows { (x: [Double]) -> [Double] in
            (0..<c.d).map { (j: Int) -> Double in
                let scaled: Double = g[j] * (x[j] - stats[j].mean)
                return scaled / (stats[j].variance + 1e-5).squareRoot() + b[j]
            }
        }
    }

    /// y_i = max of the `kernel` features around i ("same": ⌊(k−1)/2⌋ before, the rest after;
    /// positions outside the row are skipped).
    static func maxPool(_ c: Context) throws -> [[Double]] {
        let k = try c.int("kernel")
        let before = (k - 1) / 2
        return c.rows { x in (0..<c.d).map { i in x[max(0, i - before)...min(c.d - 1, i - before + k - 1)].max()! } }
    }

    /// y = x + W_out act(… act(W₁ x + b₁) …) + b_out with `layers` hidden layers of `hidden` units.
    static func residualMLP(_ c: Context, layers: Int, hidden: Int, _ act: @escaping (Double) -> Double) throws -> [[Double]] {
        var stack: [(Matrix, [Double])] = []
        var fanIn = c.d
        for l in 0..<layers {
            stack.append((try c.w.matrix("w\(l)", hidden, fanIn), try c.w.values("b\(l)", [hidden])))
            fanIn = hidden
        }
        let (wOut, bOut) = (try c.w.matrix("w_out", c.d, fanIn), try c.w.values("b_out", [c.d]))
        return c.rows { x in
            let h = stack.reduce(x) { h, layer in add(layer.0(h), layer.1).map(act) }
            return add(x, add(wOut(h), bOut))
        }
    }

    /// `branches` parallel d-wide ReLU branches of x, concatenated and fused by W_out, plus x.
    static func concatFusion(_ c: Context) throws -> [[Double]] {
        let n = try c.int("branches")
        let (w, b) = (try c.w.matrix("w0", n * c.d, c.d), try c.w.values("b0", [n * c.d]))
        let (wOut, bOut) = (try c.w.matrix("w_out", c.d, n * c.d), try c.w.values("b_out", [c.d]))
        return c.rows { x in
            let branches = (0..<n).map { k in add(w.rows(k * c.d, (k + 1) * c.d)(x), Array(b[k * c.d..<(k + 1) * c.d])).map(relu) }
            return add(x, add(wOut(branches.flatMap { $0 }), bOut))
        }
    }

    /// Block-diagonal linear map: group g's outputs see only group g's inputs.
    static func grouped(_ c: Context, groups: Int) throws -> [[Double]] {
        let e = c.d / groups
        let (w, b) = (try c.w.values("w", [groups, e, e]), try c.w.values("b", [c.d]))
        return c.rows { x in
            (0..<c.d).map { o in
                let g = o / e
                return b[o] + (0..<e).reduce(0.0) { $0 + w[(g * e + o % e) * e + $1] * x[g * e + $1] }
            }
        }
    }

    /// y = T ⊙ ReLU(W_h x + b_h) + (1 − T) ⊙ x, T = σ(W_t x + b_t).
    static func highway(_ c: Context) throws -> [[Double]] {
        let (wh, bh) = (try c.w.matrix("w_h", c.d, c.d), try c.w.values("b_h", [c.d]))
        let (wt, bt) = (try c.w.matrix("w_t", c.d, c.d), try c.w.values("b_t", [c.d]))
        return c.rows { x in
            let h: [Double] = add(wh(x), bh).map(relu), t: [Double] = add(wt(x), bt).map(sigmoid)
            return (0..<c.d).map { (i: Int) -> Double in t[i] * h[i] + (1 - t[i]) * x[i] }
        }
    }

    /// A residual 1-D convolution along the features: `channels` filters of `taps` taps spaced
    /// `dilation` apart (zero padding; "same" centres the window, causal uses only the feature
    /// and earlier ones), the activation, then a pointwise (1×1) projection back to one channel.
    static func conv1d(
        _ c: Context, taps: Int, dilation: Int, channels: Int, causal: Bool, _ act: @escaping (Double) -> Double
    ) throws -> [[Double]] {
        let (w, b) = (try c.w.matrix("w1", channels, taps), try c.w.values("b1", [channels]))
        let (wOut, bOut) = (try c.w.matrix("w_out", 1, channels), try c.w.values("b_out", [1]))
        // Tap t reads feature i + (t − before)·dilation: the last tap is the feature itself
        // when causal, the middle one (⌊(taps−1)/2⌋) when centred.
        let before = causal ? taps - 1 : (taps - 1) / 2
        return c.rows { x in
            (0..<c.d).map { i in
                let window = (0..<taps).map { t in
                    let j = i + (t - before) * dilation
                    return j >= 0 && j < c.d ? x[j] : 0
                }
                return x[i] + wOut(add(w(window), b).map(act))[0] + bOut[0]
            }
        }
    }

    /// y = x ⊙ 2σ(W₂ ReLU(W₁ x + b₁) + b₂).
    static func squeezeExcite(_ c: Context, hidden: Int) throws -> [[Double]] {
        let (w1, b1) = (try c.w.matrix("w1", hidden, c.d), try c.w.values("b1", [hidden]))
        let (w2, b2) = (try c.w.matrix("w2", c.d, hidden), try c.w.values("b2", [c.d]))
        return c.rows { x in zip(x, add(w2(add(w1(x), b1).map(relu)), b2)).map { $0 * 2 * sigmoid($1) } }
    }

    /// The row cut into `tokens` slices of s = d/tokens features; each slice is a token of a
    /// single-head self-attention with weights shared by the tokens:
    /// slice ← slice + W_o Σ_j softmax_j(q·k_j/√s) v_j + b_o, repeated `rounds` times with the
    /// same weights.
    static func sliceAttention(_ c: Context, tokens: Int, rounds: Int) throws -> [[Double]] {
        let s = c.d / tokens
        try #require(s * tokens == c.d, "\(tokens) tokens do not divide \(c.d)")
        let (wq, wk, wv) = (try c.w.matrix("w_q", s, s), try c.w.matrix("w_k", s, s), try c.w.matrix("w_v", s, s))
        let (wo, bo) = (try c.w.matrix("w_o", s, s), try c.w.values("b_o", [s]))
        return c.rows { row in
            var slices = (0..<tokens).map { Array(row[$0 * s..<($0 + 1) * s]) }
            for _ in 0..<rounds {
                let (q, k, v) = (slices.map { wq($0) }, slices.map { wk($0) }, slices.map { wv($0) })
                slices = (0..<tokens).map { i in
                    let p = softmax(k.map { kj in zip(q[i], kj).map(*).reduce(0, +) / Double(s).squareRoot() })
                    let attended = (0..<s).map { f in (0..<tokens).reduce(0.0) { $0 + p[$1] * v[$1][f] } }
                    return add(slices[i], add(wo(attended), bo))
                }
            }
            return slices.flatMap { $0 }
        }
    }

    /// Attention of the row (query W_q x) over `slots` learned key/value memory slots:
    /// y = x + W_o Σ_s softmax_s(q·K_s/√d) V_s + b_o.
    static func memoryAttention(_ c: Context, slots: Int) throws -> [[Double]] {
        let wq = try c.w.matrix("w_q", c.d, c.d)
        let (keys, values) = (try c.w.values("mem_k", [slots, c.d]), try c.w.values("mem_v", [slots, c.d]))
        let (wo, bo) = (try c.w.matrix("w_o", c.d, c.d), try c.w.values("b_o", [c.d]))
        return c.rows { x in
            let q = wq(x)
            let p = softmax((0..<slots).map { s in (0..<c.d).reduce(0.0) { $0 + q[$1] * keys[s * c.d + $1] } / Double(c.d).squareRoot() })
            let read = (0..<c.d).map { f in (0..<slots).reduce(0.0) { $0 + p[$1] * values[$1 * c.d + f] } }
            return add(x, add(wo(read), bo))
        }
    }

    /// y = x + W₂(GELU(W₁ x + b₁) ⊙ (V x + c)) + b₂.
    static func gatedFeedForward(_ c: Context, hidden: Int) throws -> [[Double]] {
        let (w1, b1) = (try c.w.matrix("w1", hidden, c.d), try c.w.values("b1", [hidden]))
        let (v, cv) = (try c.w.matrix("v", hidden, c.d), try c.w.values("c", [hidden]))
        let (w2, b2) = (try c.w.matrix("w2", c.d, hidden), try c.w.values("b2", [c.d]))
        return c.rows { x in add(x, add(w2(zip(add(w1(x), b1).map(gelu), add(v(x), cv)).map(*)), b2)) }
    }

    /// y = x + Σ_e g_e (W_e x + b_e), g = softmax(G x + b_G) over `experts`, restricted to the
    /// `topK` largest gates and renormalised to sum to 1.
    static func mixture(_ c: Context, experts: Int, topK: Int) throws -> [[Double]] {
        let (wg, bg) = (try c.w.matrix("w_gate", experts, c.d), try c.w.values("b_gate", [experts]))
        let we = try c.w.values("w_experts", [experts, c.d, c.d])
        let be = try c.w.values("b_experts", [experts, c.d])
        let expert = (0..<experts).map { e in Matrix(rows: c.d, cols: c.d, values: Array(we[e * c.d * c.d..<(e + 1) * c.d * c.d])) }
        return c.rows { x in
            let gates = softmax(add(wg(x), bg))
            let chosen = gates.indices.sorted { gates[$0] > gates[$1] }.prefix(topK)
            let total = chosen.reduce(0.0) { $0 + gates[$1] }
            return chosen.reduce(x) { y, e in add(y, scaled(add(expert[e](x), Array(be[e * c.d..<(e + 1) * c.d])), gates[e] / total)) }
        }
    }

    /// Adaptive average pooling of the d features into n bins (bin j = features
    /// ⌊j·d/n⌋ ..< ⌈(j+1)·d/n⌉, as PyTorch's AdaptiveAvgPool1d).
    static func adaptiveAveragePool(_ x: [Double], bins n: Int) -> [Double] {
        (0..<n).map { j in
            let lo = j * x.count / n, hi = ((j + 1) * x.count + n - 1) / n
            return mean(Array(x[lo..<hi]))
        }
    }

    /// y = x + W [pool_{bins}(x), pool_{2·bins}(x), …] over `levels` levels + b.
    static func poolProject(_ c: Context, bins: Int, levels: Int) throws -> [[Double]] {
        let pooled = (0..<levels).reduce(0) { $0 + bins << $1 }
        let (w, b) = (try c.w.matrix("w_out", c.d, pooled), try c.w.values("b_out", [c.d]))
        return c.rows { x in add(x, add(w((0..<levels).flatMap { adaptiveAveragePool(x, bins: bins << $0) }), b)) }
    }

    /// Dense connectivity (DenseNet): layer l sees [x, f₀, …, f_{l−1}] and adds `growth` new
    /// ReLU features f_l; y = x + W_out [f₀, …, f_{L−1}] + b_out.
    static func denseBlock(_ c: Context, growth: Int, layers: Int) throws -> [[Double]] {
        let stack = try (0..<layers).map { l in
            (try c.w.matrix("w\(l)", growth, c.d + l * growth), try c.w.values("b\(l)", [growth]))
        }
        let (wOut, bOut) = (try c.w.matrix("w_out", c.d, layers * growth), try c.w.values("b_out", [c.d]))
        return c.rows { x in
            let features = stack.reduce(x) { seen, layer in seen + add(layer.0(seen), layer.1).map(relu) }
            return add(x, add(wOut(Array(features[c.d...])), bOut))
        }
    }

    /// `steps` weight-tied steps h ← h + step·(W₂ tanh(W₁ h + b₁) + b₂) from h = x.
    static func recurrent(_ c: Context, steps: Int, step: Double) throws -> [[Double]] {
        let (w1, b1) = (try c.w.matrix("w1", c.d, c.d), try c.w.values("b1", [c.d]))
        let (w2, b2) = (try c.w.matrix("w2", c.d, c.d), try c.w.values("b2", [c.d]))
        return c.rows { x in
            (0..<steps).reduce(x) { h, _ in add(h, scaled(add(w2(add(w1(h), b1).map(tanh)), b2), step)) }
        }
    }

    /// y = Σ_o softmax(α/temperature)_o op_o(x) over identity, ReLU, GELU, tanh.
    static func nasMixture(_ c: Context) throws -> [[Double]] {
        let temperature = try c.real("temperature")
        let p = softmax(try c.w.values("alpha", [4]).map { $0 / temperature })
        return c.rows { x in x.map { p[0] * $0 + p[1] * relu($0) + p[2] * gelu($0) + p[3] * tanh($0) } }
    }

    /// Per template: the operation its name and docs/blueprints.md state, with its sizes.
    static let references: [String: Reference] = [
        "BP001": { $0.x },  // identity_passthrough
        "BP002": linearProjection,  // linear_projection
        "BP003": layerNorm,  // layer_norm_basic
        "BP004": { $0.x },  // dropout_light, evaluation mode (training: dropoutDropsAndRescales)
        "BP005": { $0.rows { $0.map(relu) } },  // relu_activation
        "BP006": batchNorm,  // batch_norm_1d, training mode
        "BP007": maxPool,  // pooling_max
        "BP008": { try residualMLP($0, layers: 1, hidden: $0.d / 2, relu) },  // skip_connection
        "BP009": { try residualMLP($0, layers: try $0.int("depth"), hidden: $0.d, relu) },  // residual_block
        "BP010": concatFusion,  // concat_fusion
        "BP011": { $0.rows { $0.map(gelu) } },  // gelu_activation
        "BP012": { c in
            let g = try c.w.values("gamma", [c.d]); return c.rows { zip(g, $0).map(*) }
        },  // layer_scaling
        "BP013": { try grouped($0, groups: try $0.int("groups")) },  // grouped_conv (1×1, grouped)
        "BP014": highway,  // highway_gate
        "BP015": { try conv1d($0, taps: try $0.int("kernel"), dilation: 1, channels: 4, causal: false, relu) },  // depthwise_separable
        "BP016": { try squeezeExcite($0, hidden: max(1, $0.d / (try $0.int("reduction")))) },  // squeeze_excitation
        "BP017": { try sliceAttention($0, tokens: try $0.int("heads"), rounds: 1) },  // channel_attention
        // conv_tanh_block
        "BP018": { try conv1d($0, taps: 2 * (try $0.int("radius")) + 1, dilation: 1, channels: 4, causal: false, tanh) },
        "BP019": { try sliceAttention($0, tokens: try $0.int("heads"), rounds: 1) },  // slice_attention_heads
        "BP020": { try memoryAttention($0, slots: try $0.int("sequence_length")) },  // attention_single_head
        // feedforward_gated
        "BP021": { try gatedFeedForward($0, hidden: Int((Double($0.d) * (try $0.real("hidden_multiple"))).rounded())) },
        "BP022": { try sliceAttention($0, tokens: try $0.int("heads"), rounds: 1) },  // slice_attention_4
        "BP023": { try residualMLP($0, layers: try $0.int("layers"), hidden: 2 * $0.d, gelu) },  // gelu_residual_mlp
        "BP024": { try conv1d($0, taps: try $0.int("kernel"), dilation: 1, channels: 8, causal: false, gelu) },  // conv_gelu_block
        "BP025": { try mixture($0, experts: try $0.int("experts"), topK: try $0.int("experts")) },  // dense_expert_mixture
        "BP026": { try poolProject($0, bins: try $0.int("output_size"), levels: 1) },  // adaptive_pooling
        "BP027": { try poolProject($0, bins: 1, levels: try $0.int("levels")) },  // feature_pyramid
        "BP028": { try denseBlock($0, growth: try $0.int("growth_rate"), layers: 3) },  // dense_connection
        "BP029": { try sliceAttention($0, tokens: try $0.int("heads"), rounds: 1) },  // slice_attention_8
        "BP030": { c in  // iterated_slice_attention: the largest slice count ≤ 8 dividing d
            try sliceAttention(c, tokens: (1...8).last { c.d % $0 == 0 }!, rounds: try c.int("hops"))
        },
        "BP031": { try conv1d($0, taps: 3, dilation: try $0.int("dilation"), channels: 4, causal: true, relu) },  // temporal_conv
        "BP032": { try conv1d($0, taps: 3, dilation: try $0.int("dilation"), channels: 4, causal: false, relu) },  // dilated_conv
        "BP033": { try grouped($0, groups: try $0.int("offset_groups")) },  // grouped_projection
        "BP034": { try sliceAttention($0, tokens: $0.d / (try $0.int("window")), rounds: 1) },  // non_local_block
        "BP035": { c in
            let p = try c.w.values("position", [c.d]); return c.rows { add($0, p) }
        },  // learned_positional
        "BP036": { try mixture($0, experts: try $0.int("experts"), topK: try $0.int("capacity")) },  // mixture_of_experts_4
        "BP037": { try sliceAttention($0, tokens: 1 << (try $0.int("levels")), rounds: 1) },  // slice_attention_pow2
        "BP038": { try memoryAttention($0, slots: try $0.int("memory_slots")) },  // memory_augmented
        "BP039": { c in try recurrent(c, steps: try c.int("steps"), step: 1 / Double(try c.int("steps"))) },  // neural_ode_block
        "BP040": nasMixture,  // differentiable_nas
        // euler_refinement_layer
        "BP041": { c in try recurrent(c, steps: try c.int("adapt_steps"), step: 1 / Double(try c.int("adapt_steps"))) },
        "BP042": { try recurrent($0, steps: try $0.int("depth"), step: 1) },  // recursive_processing
    ]

    /// Each template's forward pass on random inputs equals its reference within tolerance.
    @Test(arguments: (1...42).map { String(format: "BP%03d", $0) })
    func forwardMatchesTheNamedOperation(id: String) throws {
        let reference = try #require(TemplateReferenceTests.references[id], "\(id) has no reference")
        let setup = try TemplateReferenceTests.setup(id)
        let (d, b) = (TemplateReferenceTests.width, TemplateReferenceTests.batch)
        setup.kernel.training = id == "BP006"  // batch norm: the batch statistics of its name
        let x = ValidationGates.input(b * d, seed: 3).map { 2 * $0 }
        let y = try setup.kernel.forward(x, batch: b)
        let rows = (0..<b).map { r in (0..<d).map { Double(x[r * d + $0]) } }
        let context = Context(x: rows, parameters: setup.parameters, w: setup.weights)
        let expected = try reference(context)
        try #require(expected.count == b && expected.allSatisfy { $0.count == d })
        var worst = 0.0, moved = 0.0
        for r in 0..<b {
            for i in 0..<d {
                let e = expected[r][i]
                worst = max(worst, abs(Double(y[r * d + i]) - e) / (1 + abs(e)))
                moved = max(moved, abs(e - rows[r][i]))
            }
        }
        let name = try KarnCatalog().template(id)!.descriptor.name
        print("template-reference \(id) \(name): max relative error \(worst), max |y − x| \(moved)")
        #expect(worst <= TemplateReferenceTests.tolerance, "\(id) \(name): kernel differs from its reference by \(worst)")
        // The comparison has teeth: apart from the identities, the operation moves the input.
        if !["BP001", "BP004"].contains(id) { #expect(moved > 0.05, "\(id): the reference barely differs from x") }
    }

    /// Dropout in training (BP004): each output is 0 or x/(1 − p), about a fraction p are 0,
    /// and the mask follows the step (docs: m ~ Bernoulli(1 − p) from (seed, step)).
    @Test func dropoutDropsAndRescales() throws {
        let setup = try TemplateReferenceTests.setup("BP004")
        let p = try #require(setup.parameters["dropout"])
        let n = 64 * 64
        let x = ValidationGates.input(n, seed: 8).map { $0 + 2 }  // all nonzero
        setup.kernel.training = true
        let y = try setup.kernel.forward(x, batch: 64)
        var dropped = 0
        for i in 0..<n {
            if y[i] == 0 {
                dropped += 1
            } else {
                #expect(abs(Double(y[i]) - Double(x[i]) / (1 - p)) <= 1e-6 * Double(abs(y[i])), "y[\(i)] is not x/(1 − p)")
            }
        }
        // Binomial(4096, p): 5 standard deviations.
        let expected = Double(n) * p, sigma = (Double(n) * p * (1 - p)).squareRoot()
        #expect(abs(Double(dropped) - expected) <= 5 * sigma, "\(dropped) dropped, expected about \(expected)")
        setup.kernel.step = 2
        #expect(try setup.kernel.forward(x, batch: 64) != y, "the mask does not follow the step")
    }
}
