/// Training FLOPs of a host and its grafted seeds, counted from shapes (not measured): what a
/// run spends per example and per optimizer step, so a grown network's cost can be set beside
/// a fixed one's.
///
/// Convention: a multiply-add is 2 FLOPs, a bias add (and its gradient's sum) 1 per output
/// element; activations, softmax/cross-entropy and data staging are not counted. Backward = the weight gradient (same FLOPs as the forward GEMM) + the input
/// gradient (again the same), except that the first layer needs no input gradient. The
/// optimizer costs `optimizerFlopsPerParameter` per trainable parameter per step. A seed
/// module of P parameters counts as a dense branch: 2P forward + 4P backward per example; its
/// shadow pass (TRAINING stage) the forward and input-gradient backward of the host's later
/// dense layers. Evaluation passes are not training FLOPs.
public struct TrainingCost: Sendable, Equatable {
    /// Host forward + backward FLOPs per training example.
    public var hostPerExample: Double
    /// Forward + input-gradient FLOPs per example of the host's dense layers after slot `l`
    /// (what a shadow pass through them costs), by slot index.
    public var shadowPerExample: [Double]
    /// The same after conv slot `i` (`conv-slot-<i>`): the later conv layers (inserted ones
    /// too) and every dense layer, by declared conv layer.
    public var convolutionShadowPerExample: [Double]

    public init(architecture a: HostArchitecture) {
        var forward = 0.0, backward = 0.0
        var first = true
        // Products of each declared conv layer with the convs inserted after it.
        var convProducts: [Double] = []
        for (index, conv) in (a.convolutions ?? []).enumerated() {
            let products = 2 * Double(conv.multiplyAdds)
            forward += products + Double(conv.outputWidth)
            backward += products + (first ? 0 : products) + Double(conv.outputWidth)
            first = false
            var stage = products
            for insertion in (a.insertions ?? []) where insertion.after == index {
                let inserted = TrainingCost.insertPerExample(insertion)
                forward += inserted.forward
                backward += inserted.backward
                stage += 2 * Double(insertion.multiplyAdds)
            }
            convProducts.append(stage)
        }
        let widths = a.widths
        var denseProducts: [Double] = []
        for l in 0..<(widths.count - 1) {
            let products = 2 * Double(widths[l] * widths[l + 1])
            denseProducts.append(products)
            forward += products + Double(widths[l + 1])
            backward += products + (first ? 0 : products) + Double(widths[l + 1])
            first = false
        }
        // Conv branches: forward, then weight gradients; input gradients past their first conv
        // (their own input is detached).
        hostPerExample = forward + backward + (a.branches ?? []).reduce(0) { $0 + TrainingCost.branchPerExample($1) }
        // After slot l (hidden layer l) come dense layers l+1 … output.
        shadowPerExample = (0..<a.hiddenSizes.count).map { l in 2 * denseProducts[(l + 1)...].reduce(0, +) }
        // After conv slot i come the conv stages i+1 … (their own inserted convs after conv i
        // are before the slot) and every dense layer.
        let allDense = denseProducts.reduce(0, +)
        convolutionShadowPerExample = convProducts.indices.map { i in
            let later = convProducts[(i + 1)...].reduce(0, +)
            return 2 * (later + allDense)
        }
    }

    /// Forward and backward FLOPs per example of an inserted conv layer of the host: the
    /// convolution (+ bias) and the residual add; its weight gradient and input gradient (+
    /// the residual's δ).
    public static func insertPerExample(_ insertion: ConvInsertShape) -> (forward: Double, backward: Double) {
        let products = 2 * Double(insertion.multiplyAdds)
        let width = Double(insertion.width)
        return (products + 2 * width, 2 * products + 2 * width)
    }

    /// Forward + backward FLOPs per example of an inserted conv as a seed (weights shared across
    /// positions): the convolution, its bias and the blend; the weight gradient (its input is
    /// detached).
    public static func insertSeedPerExample(_ insertion: ConvInsertShape) -> Double {
        let products = 2 * Double(insertion.multiplyAdds)
        return 2 * products + 3 * Double(insertion.width)
    }

    /// Forward + backward FLOPs per example of a conv branch (a host branch or a conv-branch
    /// seed: its weights are shared across positions, so its parameters do not say its work):
    /// the forward, the weight gradients, and input gradients past its first conv (its own
    /// input is detached).
    public static func branchPerExample(_ branch: ConvBranchShape) -> Double {
        let (convs, map) = branch.multiplyAdds
        let products = 2 * Double(convs.reduce(0, +) + map)
        return products + Double(branch.outputs) + products + 2 * Double(convs.dropFirst().reduce(0, +) + map)
    }

    /// Forward + backward FLOPs per example of a seed module with `parameters` parameters.
    public static func seedPerExample(parameters: Int) -> Double { 6 * Double(parameters) }

    /// FLOPs of one optimizer update, per parameter.
    public static func optimizerFlopsPerParameter(_ kind: OptimizerSettings.Kind) -> Double {
        switch kind {
        case .sgd: 4  // velocity (momentum, decay) and update
        case .adam, .adamw: 12  // two moments, bias corrections, sqrt, divide, update
        }
    }
}
