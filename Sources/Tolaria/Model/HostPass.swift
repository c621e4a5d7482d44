import Kernels

/// The buffers of one pass through a host: every layer's activations and gradients, and the
/// softmax probabilities of the loss. The host has a main pass and, once a seed trains, a
/// shadow pass; both run the same layers' forward and backward.
final class HostPass {
    /// By index in the host's `layers`.
    let activations: [LayerActivations]
    let probabilities: UnsafeMutablePointer<Float>
    /// Where a pass that holds the parameters fixed sends the weight gradients (never read).
    let discard: UnsafeMutablePointer<Float>?
    let classes: Int

    /// Buffers for the layers from `first` on (those before get none: the pass never starts
    /// there); `discard`: floats of the discarded-gradient buffer (nil: the main pass).
    init(layers: [any HostLayer], maxBatch: Int, classes: Int, from first: Int = 0, discard: Int? = nil) {
        activations = layers.indices.map { LayerActivations(layer: layers[$0], maxBatch: $0 >= first ? maxBatch : 0) }
        probabilities = .allocate(capacity: maxBatch * classes)
        probabilities.initialize(repeating: 0, count: maxBatch * classes)
        self.discard = discard.map { count in
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        self.classes = classes
    }

    deinit {
        probabilities.deallocate()
        discard?.deallocate()
    }

    /// The output of the last layer.
    var logits: UnsafeMutablePointer<Float> { activations[activations.count - 1].output }

    /// Mean cross-entropy and correct predictions of the pass's last forward.
    func loss(labels: UnsafePointer<Int32>, batch: Int) throws -> (loss: Float, correct: Int) {
        let loss = try Kernels.softmaxCrossEntropyForward(
            probabilities: probabilities, logits: logits, labels: labels, batch: batch, classes: classes)
        return (loss, Kernels.countCorrect(scores: logits, labels: labels, batch: batch, classes: classes))
    }

    /// ∂(mean loss × `lossScale`)/∂logits into the last layer's output gradient, after `loss`.
    func lossGradient(labels: UnsafePointer<Int32>, batch: Int, lossScale: Float, labelSmoothing: Float) throws {
        let gradient = activations[activations.count - 1].outputGradient
        try Kernels.softmaxCrossEntropyBackward(
            logitsGradient: gradient, probabilities: probabilities, labels: labels, batch: batch, classes: classes)
        if labelSmoothing > 0 { smoothLabels(gradient, labels: labels, batch: batch, epsilon: labelSmoothing) }
        if lossScale != 1 {
            for i in 0..<(batch * classes) { gradient[i] *= lossScale }
        }
    }

    /// (p − one-hot)/B → (p − t)/B with t = (1 − ε)·one-hot + ε/C: adds ε·(one-hot − 1/C)/B.
    private func smoothLabels(_ gradient: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, epsilon: Float) {
        let scale = epsilon / Float(batch)
        let uniform = scale / Float(classes)
        for b in 0..<batch {
            let row = gradient + b * classes
            for c in 0..<classes { row[c] -= uniform }
            row[Int(labels[b])] += scale
        }
    }
}
