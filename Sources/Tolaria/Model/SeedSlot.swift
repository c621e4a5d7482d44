public import Kernels
public import Leyline

/// A module grafted into a seed slot — the one interface Kasmina implements. It maps the
/// slot's activation `[batch, width]` to a new `[batch, width]` and backpropagates through it;
/// what it computes (α blending, gradient isolation, a bottleneck adapter) is its own business.
/// Whatever else it does it declares in `capabilities`; Tolaria calls the members of a
/// capability only on modules that declare it (each has a default that does nothing).
///
/// Every call runs on the training thread inside the batch loop: no allocation, no locks.
public protocol SeedSlotModule: AnyObject {
    /// What is grafted (a blueprint id, say); saved in checkpoints.
    var kind: String { get }
    /// Trainable parameters the module adds (in its own blocks, never the host's); Tolaria's
    /// optimizer steps them with the host's unless the module is `.selfStepping`.
    var parameterGroups: [ParameterGroup] { get }
    /// What Tolaria does with the module besides forward and backward (default: nothing).
    var capabilities: SeedModuleCapabilities { get }
    /// output[batch, width] = f(input) (overwritten; never aliases `input`).
    func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, width: Int, training: Bool) throws
    /// inputGradient[batch, width] = ∂L/∂input (overwritten) given ∂L/∂output; accumulates
    /// (`+=`) the gradients of its own parameters. `input` and `output` are the forward's.
    func backward(
        outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
        input: UnsafePointer<Float>, output: UnsafePointer<Float>, batch: Int, width: Int) throws
    /// State beyond the parameter groups (α, stage, step counters) for checkpoints.
    func checkpointState() -> [UInt8]
    /// Restores what `checkpointState` returned (rollback, resume).
    func restore(checkpointState: [UInt8]) throws
    /// Forward + backward FLOPs per training example of what it computes, when its parameter
    /// count does not say it (weight sharing: conv branches); nil: `TrainingCost.seedPerExample`.
    var trainingFlopsPerExample: Double? { get }

    // `.shadowTraining`: the module learns from the task loss through the host's later layers
    // while its own output does not reach them yet (Kasmina's TRAINING stage: y = h). Before
    // the main backward of a batch, Tolaria runs the layers after the slot from
    // `shadowActivation` (or from the next layer's pre-activation plus `shadowContribution`)
    // with their weights held fixed — no host gradient is touched — and hands the module
    // ∂L_shadow/∂(that activation or pre-activation).

    /// Non-nil when this batch needs a shadow pass: [batch, width] from the last forward.
    var shadowActivation: UnsafePointer<Float>? { get }
    /// Called right before the shadow pass (the module snapshots what isolation checks need).
    func shadowPassWillBegin()
    /// The shadow gradient (scaled like the main loss for gradient accumulation), the shadow
    /// loss (mean over the batch, unscaled) and its correct predictions.
    func shadowBackward(gradient: UnsafePointer<Float>, loss: Float, correct: Int, batch: Int, width: Int) throws

    // `.selfStepping`: Tolaria leaves the module's groups out of the host's gradient norm and
    // clipping and calls `optimizerStep` after every host step, so a seed's gradients can
    // never scale the host's update and the module can check that its step left the host
    // untouched.

    func optimizerStep(_ optimizer: Optimizer) throws

    // `.ablation`: after the validation pass the validation split is evaluated once more with
    // the module bypassed (output = input, bit for bit) when it `wantsAblation`; the result
    // goes into the epoch's `SlotSummary` (the ablation Δloss of the gates).

    var wantsAblation: Bool { get }
    var bypassed: Bool { get set }

    // `.seedStates`: the lifecycle states of its seeds (the `seed_states` of the state packet).

    var seedStates: [SeedState] { get }

    // `.preactivation`: the module adds to the pre-activation of the layer after its slot
    // (Kasmina's widening seed: k new hidden units beside hidden layer l that read l's input
    // and feed layer l+1, the logits after the last hidden layer). The host calls it after
    // layer l+1's weights were applied and before its bias and activation; the contribution
    // never flows back into the host (the detach). In a conv slot (`conv-slot-<i>`) the
    // "pre-activation" is the slot's own output and the layer input the slot's input, the conv
    // signal h (Kasmina's inserted convs: y = h + α·s(h̄)); its shadow pass starts from h + s.

    /// preactivation[batch, outputs] += the module's contribution given layer l's input
    /// x[batch, inputs] (nothing when the module is not part of the function now).
    func addContribution(
        layerInput: UnsafePointer<Float>, preactivation: UnsafeMutablePointer<Float>, batch: Int, inputs: Int, outputs: Int,
        training: Bool) throws
    /// After the host's backward reached that pre-activation: ∂L/∂preactivation, for the
    /// module's own parameters only (no input gradient).
    func contributionBackward(preactivationGradient: UnsafePointer<Float>, batch: Int, outputs: Int) throws
    /// TRAINING: the unblended contribution [batch, outputs] of the last training forward, for
    /// the shadow pass (`shadowBackward` receives its gradient).
    var shadowContribution: UnsafePointer<Float>? { get }
}

/// What a seed module does besides its forward and backward (see `SeedSlotModule`).
public struct SeedModuleCapabilities: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let shadowTraining = SeedModuleCapabilities(rawValue: 1 << 0)
    public static let selfStepping = SeedModuleCapabilities(rawValue: 1 << 1)
    public static let ablation = SeedModuleCapabilities(rawValue: 1 << 2)
    public static let seedStates = SeedModuleCapabilities(rawValue: 1 << 3)
    public static let preactivation = SeedModuleCapabilities(rawValue: 1 << 4)
}

/// The defaults of a module that declares no capability.
extension SeedSlotModule {
    public var capabilities: SeedModuleCapabilities { [] }
    public var trainingFlopsPerExample: Double? { nil }
    public var shadowActivation: UnsafePointer<Float>? { nil }
    public func shadowPassWillBegin() {}
    public func shadowBackward(gradient: UnsafePointer<Float>, loss: Float, correct: Int, batch: Int, width: Int) throws {}
    public func optimizerStep(_ optimizer: Optimizer) throws {}
    public var wantsAblation: Bool { false }
    public var bypassed: Bool {
        get { false }
        set {}
    }
    public var seedStates: [SeedState] { [] }
    public func addContribution(
        layerInput: UnsafePointer<Float>, preactivation: UnsafeMutablePointer<Float>, batch: Int, inputs: Int, outputs: Int,
        training: Bool
    ) throws {}
    public func contributionBackward(preactivationGradient: UnsafePointer<Float>, batch: Int, outputs: Int) throws {}
    public var shadowContribution: UnsafePointer<Float>? { nil }
}

/// A named hook point after a hidden layer (`slot-0` follows hidden layer 0) or after a
/// declared conv layer and the convs inserted after it (`conv-slot-0`). Empty means identity at
/// zero cost: the layer's output feeds the next layer directly.
public struct SeedSlot {
    public let name: String
    /// The hidden layer it follows (a conv slot: the declared conv layer).
    public let layer: Int
    public let width: Int
    public var module: (any SeedSlotModule)?

    public static func name(forLayer layer: Int) -> String { "slot-\(layer)" }

    /// The name of the slot after declared conv layer `layer` (and the convs inserted after it).
    public static func name(forConvolution layer: Int) -> String { "conv-slot-\(layer)" }

    /// The declared conv layer a `conv-slot-<i>` name follows; nil for any other name.
    public static func convolution(named name: String) -> Int? {
        guard name.hasPrefix("conv-slot-"), let layer = Int(name.dropFirst("conv-slot-".count)), layer >= 0 else { return nil }
        return layer
    }

    /// A slot after a conv layer: its activation is a signal `[length, channels]`, and a module
    /// there adds to it through `.preactivation` (Kasmina's inserted convs).
    public var isConvolution: Bool { SeedSlot.convolution(named: name) != nil }
}

/// A controller that can rebuild the module a checkpoint names (resume after a restart,
/// rollback to an epoch before or after a graft): Tolaria calls it when a checkpoint's slot
/// holds a module the model does not have, then restores the module's state and tensors.
/// An `EpochController` that is one is its own `moduleFactory`.
public protocol SeedModuleFactory: AnyObject {
    func makeModule(kind: String, slot: SeedSlot, checkpointState: [UInt8]) throws -> (any SeedSlotModule)?
}

/// A seed slot in the host's chain of layers: the grafted module's forward and backward, or
/// nothing at all when the slot is empty (the host skips it). In a conv slot a `.preactivation`
/// module adds its contribution to the slot's own output, computed from the slot's input (the
/// conv signal h): `y = module(h) + contribution(h)`, and learns from ∂L/∂y.
final class SeedSlotLayer: HostLayer {
    let name: String
    /// The hidden layer it follows (a conv slot: the declared conv layer).
    let layer: Int
    let width: Int
    let isConvolution: Bool
    var module: (any SeedSlotModule)?

    init(layer: Int, width: Int, convolution: Bool = false) {
        name = convolution ? SeedSlot.name(forConvolution: layer) : SeedSlot.name(forLayer: layer)
        self.layer = layer
        self.width = width
        isConvolution = convolution
    }

    /// The module adds to this slot's output (a conv slot with a `.preactivation` module).
    private var contributes: Bool { isConvolution && module?.capabilities.contains(.preactivation) == true }

    var slot: SeedSlot { SeedSlot(name: name, layer: layer, width: width, module: module) }
    var inputWidth: Int { width }
    var outputWidth: Int { width }
    /// The module's parameters live in its own blocks, not the host's.
    var group: ParameterGroup? { nil }
    var scratchWidths: [Int] { [] }
    var passesThrough: Bool { module == nil }

    func initialise(_ rng: inout RandomGenerator) {}

    func forward(
        _ input: UnsafePointer<Float>, _ pass: LayerActivations, _ step: LayerStep, hook: PreactivationHook
    ) throws
        -> UnsafePointer<Float>
    {
        guard let module else { return input }
        pass.input = input
        try module.forward(input: input, output: pass.output, batch: step.batch, width: width, training: step.training)
        if contributes {
            try module.addContribution(
                layerInput: input, preactivation: pass.output, batch: step.batch, inputs: width, outputs: width,
                training: step.training)
        }
        return UnsafePointer(pass.output)
    }

    func backward(
        _ pass: LayerActivations, inputGradient: UnsafeMutablePointer<Float>?, _ step: LayerStep, hook: PreactivationHook,
        toPreactivation: Bool
    ) throws {
        guard let module, let inputGradient, let input = pass.input else { return }
        try module.backward(
            outputGradient: pass.outputGradient, inputGradient: inputGradient, input: input, output: pass.output,
            batch: step.batch, width: width)
        if contributes {
            try module.contributionBackward(preactivationGradient: pass.outputGradient, batch: step.batch, outputs: width)
        }
    }

    func preactivationGradient(_ pass: LayerActivations) -> UnsafePointer<Float> { UnsafePointer(pass.outputGradient) }
}

/// New hidden units for a host layer (row-major like the host's weights): `incoming` is
/// [units, fanIn], `bias` [units], `outgoing` [fanOut of the next layer, units].
public struct WideningUnits: Sendable, Equatable {
    public var units: Int
    public var incoming: [Float]
    public var bias: [Float]
    public var outgoing: [Float]

    public init(units: Int, incoming: [Float], bias: [Float], outgoing: [Float]) {
        self.units = units
        self.incoming = incoming
        self.bias = bias
        self.outgoing = outgoing
    }
}
