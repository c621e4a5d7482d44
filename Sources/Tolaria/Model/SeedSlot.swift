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
    func backward(outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>,
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
