public import Kernels
public import Leyline

/// A module grafted into a seed slot — the hook Kasmina implements. It maps the slot's
/// activation `[batch, width]` to a new `[batch, width]` and backpropagates through it; what
/// it computes (α blending, gradient isolation, a bottleneck adapter) is its own business.
///
/// Both calls run on the training thread inside the batch loop: no allocation, no locks.
public protocol SeedSlotModule: AnyObject {
    /// What is grafted (a blueprint id, say); saved in checkpoints.
    var kind: String { get }
    /// Trainable parameters the module adds; Tolaria's optimizer steps them with the host's.
    var parameterGroups: [ParameterGroup] { get }
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
}

/// A named hook point after a hidden layer (`slot-0` follows hidden layer 0). Empty means
/// identity at zero cost: the layer's output feeds the next layer directly.
public struct SeedSlot {
    public let name: String
    /// The hidden layer it follows.
    public let layer: Int
    public let width: Int
    public var module: (any SeedSlotModule)?

    public static func name(forLayer layer: Int) -> String { "slot-\(layer)" }
}

/// A module that learns from the task loss through the host's later layers while its own
/// output does not reach them yet (Kasmina's TRAINING stage: y = h, the seed trains on a
/// shadow pass). Before the main backward of a batch, Tolaria feeds `shadowActivation` through
/// the layers after the slot with their weights held fixed — no host gradient is touched —
/// and hands the module ∂L_shadow/∂activation.
public protocol ShadowTrainedSeedModule: SeedSlotModule {
    /// Non-nil when this batch needs a shadow pass: [batch, width] from the last forward.
    var shadowActivation: UnsafePointer<Float>? { get }
    /// Called right before the shadow pass (the module snapshots what isolation checks need).
    func shadowPassWillBegin()
    /// The shadow gradient (scaled like the main loss for gradient accumulation), the shadow
    /// loss (mean over the batch, unscaled) and its correct predictions.
    func shadowBackward(gradient: UnsafePointer<Float>, loss: Float, correct: Int, batch: Int, width: Int) throws
}

/// A module that updates its own parameters: Tolaria leaves its groups out of the host's
/// gradient norm and clipping and calls `optimizerStep` after every host step, so a seed's
/// gradients can never scale the host's update and the module can check that its step left
/// the host untouched.
public protocol SelfSteppingSeedModule: SeedSlotModule {
    func optimizerStep(_ optimizer: Optimizer) throws
}

/// A module whose contribution Tolaria measures after the validation pass: the validation
/// split is evaluated once more with the module bypassed (output = input, bit for bit), and
/// the result goes into the epoch's `SlotSummary` (the ablation Δloss of the gates).
public protocol AblatableSeedModule: SeedSlotModule {
    var wantsAblation: Bool { get }
    var bypassed: Bool { get set }
}

/// A module that reports the lifecycle state of its seeds (the `seed_states` of the state
/// packet).
public protocol SeedReportingModule: SeedSlotModule {
    var seedStates: [SeedState] { get }
}

/// A controller that can rebuild the module a checkpoint names (resume after a restart,
/// rollback to an epoch before or after a graft): Tolaria calls it when a checkpoint's slot
/// holds a module the model does not have, then restores the module's state and tensors.
public protocol SeedModuleFactory: AnyObject {
    func makeModule(kind: String, slot: SeedSlot, checkpointState: [UInt8]) throws -> (any SeedSlotModule)?
}

/// A module that adds to the pre-activation of the layer after its slot instead of (or as
/// well as) transforming the slot's activation: Kasmina's widening seed, k new hidden units
/// beside hidden layer l that read l's input and feed layer l+1 (the logits after the last
/// hidden layer). The host calls it after layer l+1's weights were applied and before its
/// bias and activation; the contribution never flows back into the host (the detach).
public protocol PreactivationSeedModule: SeedSlotModule {
    /// preactivation[batch, outputs] += the module's contribution given layer l's input
    /// x[batch, inputs] (nothing when the module is not part of the function now).
    func addContribution(
        layerInput: UnsafePointer<Float>, preactivation: UnsafeMutablePointer<Float>, batch: Int, inputs: Int, outputs: Int,
        training: Bool) throws
    /// After the host's backward reached that pre-activation: ∂L/∂preactivation, for the
    /// module's own parameters only (no input gradient).
    func contributionBackward(preactivationGradient: UnsafePointer<Float>, batch: Int, outputs: Int) throws
    /// TRAINING: the unblended contribution [batch, outputs] of the last training forward, for
    /// the shadow pass (`ShadowTrainedSeedModule.shadowBackward` receives its gradient).
    var shadowContribution: UnsafePointer<Float>? { get }
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
