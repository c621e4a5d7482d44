public import KernelRuntime
public import Kernels

/// The computation a seed grafts: a width-preserving module over caller buffers whose
/// parameters and gradients live in the seed's own `ParameterBlock`. Production seeds use
/// `KernelBranch` (an Urza kernel); tests may substitute a branch that misbehaves on purpose
/// to prove the isolation checks catch it.
public protocol SeedBranch: AnyObject {
    var parameterCount: Int { get }
    /// Where the branch's parameters and gradients live (the isolation checks compare these
    /// ranges with the host's).
    var parameters: UnsafeMutablePointer<Float> { get }
    var gradients: UnsafeMutablePointer<Float> { get }
    /// k(x) = x + a(x) with k = identity when grafted: Kasmina blends such kernels as
    /// y = h + α·(k(h̄) − h̄), which keeps the host's full gradient on the identity path.
    var isResidual: Bool { get }
    /// Dropout / batch-statistics mode.
    var training: Bool { get set }
    /// The training step dropout masks derive from.
    var step: UInt64 { get set }
    /// y[batch, width] = k(x) (y overwritten, x untouched).
    func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws
    /// After `forward`: gradients += ∂L/∂θ given ∂L/∂y; `inputGradient` (if non-nil) = ∂L/∂x.
    /// Kasmina passes nil while a seed is isolated (the detach) and a buffer once fossilised.
    func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws
}

/// A kernel from Urza bound into the seed's parameter block: the compiled weights are copied
/// in, the optimizer steps them in place, the gradients accumulate there.
public final class KernelBranch: SeedBranch {
    public let kernel: SeedKernel
    public let isResidual: Bool

    /// CPU time one call of a seed kernel may take in a training run before the watchdog
    /// timer stops it (seed_watchdog.c): honest kernels need milliseconds per batch.
    public static let defaultCallBudgetNanoseconds: UInt64 = 1_000_000_000

    public init(_ compiled: CompiledKernel, block: ParameterBlock) throws {
        precondition(block.count >= compiled.parameterCount, "the seed's block is smaller than its kernel")
        kernel = try compiled.instantiate(parameters: block.values, gradients: block.gradients)
        kernel.cpuBudgetNanoseconds = KernelBranch.defaultCallBudgetNanoseconds
        isResidual = compiled.spec.kind.startsAsIdentity
    }

    public var parameterCount: Int { kernel.parameterCount }
    public var parameters: UnsafeMutablePointer<Float> { kernel.parameters.baseAddress ?? UnsafeMutablePointer(mutating: emptyBuffer) }
    public var gradients: UnsafeMutablePointer<Float> { kernel.gradients.baseAddress ?? UnsafeMutablePointer(mutating: emptyBuffer) }

    public var training: Bool {
        get { kernel.training }
        set { kernel.training = newValue }
    }

    public var step: UInt64 {
        get { kernel.step }
        set { kernel.step = newValue }
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws {
        try kernel.forward(x, into: y, batch: batch)
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        try kernel.backward(outputGradient, inputGradient: inputGradient)
    }
}

/// A stable address for parameter-free kernels (identity): never written, never read.
nonisolated(unsafe) private let emptyBuffer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
