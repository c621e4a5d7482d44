import Kernels

/// One layer of a host network: one forward and one backward over a batch, its parameters a
/// slice of the host's `ParameterBlock` (a `ParameterGroup`), its activations in a
/// `LayerActivations` that belongs to the pass (the main pass and the shadow pass each have
/// their own, so a shadow pass runs the same code without touching the main pass).
///
/// The host is a chain of these (`HostMLP.layers`): conv1d layers, dense layers, and a
/// `SeedSlotLayer` after every hidden dense layer. A new layer kind is one file conforming
/// here (plus its kernel), and one line where `HostMLP` builds the chain from the architecture.
protocol HostLayer: AnyObject {
    /// Floats per example read and written.
    var inputWidth: Int { get }
    var outputWidth: Int { get }
    /// The layer's parameters in the host's block (nil: it has none).
    var group: ParameterGroup? { get }
    /// Floats per example of the scratch buffers a pass keeps for this layer besides its output
    /// and output gradient (pre-activations, im2col matrices…), in the order it reads them.
    var scratchWidths: [Int] { get }
    /// True while the layer is the identity: the host skips it (no call, no copy).
    var passesThrough: Bool { get }
    /// Sets the parameters from the run's initialisation stream (layers draw in chain order).
    func initialise(_ rng: inout RandomGenerator)
    /// `pass.output` (or the input itself) = the layer applied to `batch` rows of `input`;
    /// `pass.input` remembers `input` for the backward. `hook` changes the pre-activation
    /// (layers without one take `.none`).
    func forward(
        _ input: UnsafePointer<Float>, _ pass: LayerActivations, _ step: LayerStep, hook: PreactivationHook
    ) throws
        -> UnsafePointer<Float>
    /// From ∂L/∂output in `pass.outputGradient`: writes ∂L/∂input into `inputGradient` (nil: not
    /// needed) and accumulates the parameter gradients (into `step.discard` when the pass
    /// holds the parameters fixed). With `toPreactivation` it stops at ∂L/∂pre-activation
    /// (`preactivationGradient`) and writes nothing else.
    func backward(
        _ pass: LayerActivations, inputGradient: UnsafeMutablePointer<Float>?, _ step: LayerStep, hook: PreactivationHook,
        toPreactivation: Bool) throws
    /// ∂L/∂pre-activation after a backward (layers without a pre-activation: their output gradient).
    func preactivationGradient(_ pass: LayerActivations) -> UnsafePointer<Float>
}

extension HostLayer {
    var passesThrough: Bool { false }
}

/// How one forward or backward call runs.
struct LayerStep {
    var batch: Int
    /// A training pass (dropout, seeds learning) rather than an evaluation.
    var training: Bool
    /// nil: the layer's gradients accumulate into the host's block. Otherwise the pass holds
    /// every parameter fixed (the shadow pass): weight gradients the kernels must write go
    /// here and are never read, bias gradients are not computed.
    var discard: UnsafeMutablePointer<Float>?
    /// The host's conv branches into this layer: added to its pre-activation after the weights
    /// (dense layers; nil: none). Set per layer by `HostMLP`.
    var added: UnsafePointer<Float>? = nil
}

/// What happens to a layer's pre-activation (after its weights, before its bias and
/// activation; the logits for the output layer).
enum PreactivationHook {
    case none
    /// A widening seed adds its contribution, computed from `layerInput` (the input of the
    /// layer before the seed's slot, `inputs` floats per example), and gets its gradient in
    /// the backward.
    case contribution(any SeedSlotModule, layerInput: UnsafePointer<Float>, inputs: Int)
    /// The shadow pass of a widening seed: the pre-activation is the one `main` holds (the
    /// main pass's, its bias already added) + `added`; weights and bias are not applied again.
    case resume(from: LayerActivations, added: UnsafePointer<Float>)
}

/// One pass's buffers for one layer, allocated once for the largest batch.
final class LayerActivations {
    let output: UnsafeMutablePointer<Float>
    /// ∂L/∂output, written by the next layer's backward (or the loss).
    let outputGradient: UnsafeMutablePointer<Float>
    let scratch: [UnsafeMutablePointer<Float>]
    /// The input of the last forward.
    var input: UnsafePointer<Float>?

    init(layer: any HostLayer, maxBatch: Int) {
        func buffer(_ width: Int) -> UnsafeMutablePointer<Float> {
            let count = max(maxBatch * width, 1)
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            pointer.initialize(repeating: 0, count: count)
            return pointer
        }
        output = buffer(layer.outputWidth)
        outputGradient = buffer(layer.outputWidth)
        scratch = layer.scratchWidths.map(buffer)
    }

    deinit {
        output.deallocate()
        outputGradient.deallocate()
        for pointer in scratch { pointer.deallocate() }
    }
}
