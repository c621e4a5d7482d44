import Kernels

/// One grafted seed's runnable kernel: a private parameter buffer and gradient buffer, the
/// kernel's persistent state and workspace, over caller-owned activation buffers. It maps
/// input [batch, width] to output [batch, width].
///
/// Not thread-safe and not `Sendable`: exactly one seed slot owns an instance and calls it from
/// its training thread. The buffers are allocated once (the workspace grows with the largest
/// batch seen) so `forward`/`backward` allocate nothing in steady state.
///
/// Contract for Kasmina:
/// - `forward` keeps its own copy of the input, so the caller may reuse its buffer.
/// - `backward(outputGradient, inputGradient:)` must follow a successful `forward`; it
///   *accumulates* into `gradients` (call `zeroGradients()` per step) and *overwrites*
///   `inputGradient`, which may be nil when the input gradient is not wanted (a seed being
///   trained in isolation discards it).
/// - `training` selects dropout / batch-statistics behaviour; `step` is the training step the
///   dropout masks derive from (set it per step; a forward and its backward see the same mask).
public final class SeedKernel {
    /// Largest batch one call accepts.
    public static let maxBatch = 1 << 20

    public let compiled: CompiledKernel
    public var spec: KernelSpec { compiled.spec }
    public var width: Int { compiled.spec.width }
    public var parameterCount: Int { parameters.count }
    /// The trainable parameters (initially the compiled weights), laid out per `spec.tensors`.
    public let parameters: UnsafeMutableBufferPointer<Float>
    /// dLoss/dParameters, accumulated by `backward`.
    public let gradients: UnsafeMutableBufferPointer<Float>

    private let shape: SeedShape
    private let runtime: SeedRuntime
    private let state: UnsafeMutableBufferPointer<Float>
    private var workspace: UnsafeMutableBufferPointer<Float>
    private var savedInput: UnsafeMutableBufferPointer<Float>
    private var lastBatch = 0
    private var reservedBatch = 0

    /// False when `parameters` and `gradients` are the caller's memory (not freed here).
    private let ownsBuffers: Bool

    /// With `buffers`, the parameters and gradients live in caller-owned memory of
    /// `compiled.parameterCount` floats each; otherwise the kernel allocates its own.
    init(
        _ compiled: CompiledKernel,
        buffers: (parameters: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>)? = nil
    ) throws(KernelError) {
        guard let shape = compiled.spec.seedShape else {
            throw KernelError.invalidSpec(status: KernelStatus.size, spec: compiled.spec.description)
        }
        self.compiled = compiled
        self.shape = shape
        let count = compiled.weights.count
        if let buffers {
            parameters = UnsafeMutableBufferPointer(start: buffers.parameters, count: count)
            gradients = UnsafeMutableBufferPointer(start: buffers.gradients, count: count)
            ownsBuffers = false
        } else {
            parameters = .allocate(capacity: count)
            gradients = .allocate(capacity: count)
            ownsBuffers = true
        }
        _ = parameters.update(from: compiled.weights)
        gradients.update(repeating: 0)
        state = .allocate(capacity: compiled.spec.stateCount)
        state.initialize(repeating: 0)
        workspace = .allocate(capacity: 0)
        savedInput = .allocate(capacity: 0)
        runtime = SeedRuntime()
        let status = runtime.start(shape, state: state.baseAddress, seed: compiled.seed)
        if status != KernelStatus.ok {
            throw KernelError.invalidSpec(status: status, spec: compiled.spec.description)
        }
    }

    deinit {
        // Before the state it may refer to is freed (the runtime itself goes after this body).
        runtime.release()
        if ownsBuffers {
            parameters.deallocate()
            gradients.deallocate()
        }
        state.deallocate()
        workspace.deallocate()
        savedInput.deallocate()
    }

    public var training: Bool {
        get { runtime.training }
        set { runtime.training = newValue }
    }

    public var step: UInt64 {
        get { runtime.step }
        set { runtime.step = newValue }
    }

    /// CPU time one call may use before the watchdog timer stops it (`KernelStatus.timeout`); 0 = no
    /// deadline. Kasmina sets it for every seed call of a training run.
    public var cpuBudgetNanoseconds: UInt64 = 0
    /// A call was stopped by its deadline: the kernel's state is abandoned, every later call fails.
    public private(set) var stopped = false

    /// Bytes a fault kernel has allocated for itself (the leak gate watches this; 0 for every
    /// honest kernel, which never allocates).
    public var privateAllocationBytes: Int { runtime.arenaBytes }

    /// output[batch, width] = kernel(input[batch, width]); both buffers are the caller's.
    public func forward(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        batch: Int
    ) throws(KernelError) {
        guard batch >= 1 && batch <= SeedKernel.maxBatch else { throw KernelError.invalidBatch(batch) }
        guard !stopped else { throw KernelError.failed(operation: "forward", status: KernelStatus.timeout) }
        let elements = batch * width
        reserve(batch: batch)
        savedInput.baseAddress!.update(from: input, count: elements)
        lastBatch = 0
        let status = runtime.forward(
            shape, parameters: parameters.baseAddress, workspace: workspace.baseAddress, output: output,
            input: savedInput.baseAddress, batch: batch, cpuBudgetNanoseconds: cpuBudgetNanoseconds)
        if status == KernelStatus.timeout { stopped = true }
        if status != KernelStatus.ok { throw KernelError.failed(operation: "forward", status: status) }
        lastBatch = batch
    }

    /// After `forward`: gradients += dL/dθ; inputGradient (if given) = dL/dinput.
    public func backward(
        _ outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?
    ) throws(KernelError) {
        guard lastBatch > 0 else { throw KernelError.noForward }
        let status = runtime.backward(
            shape, parameters: parameters.baseAddress, workspace: workspace.baseAddress,
            parameterGradient: gradients.baseAddress, inputGradient: inputGradient, outputGradient: outputGradient,
            input: savedInput.baseAddress, batch: lastBatch, cpuBudgetNanoseconds: cpuBudgetNanoseconds)
        if status == KernelStatus.timeout { stopped = true }
        if status != KernelStatus.ok { throw KernelError.failed(operation: "backward", status: status) }
    }

    /// Array convenience over `forward(_:into:batch:)`.
    public func forward(_ input: [Float], batch: Int) throws(KernelError) -> [Float] {
        guard input.count == batch * width else {
            throw KernelError.wrongLength(argument: "input", expected: batch * width, actual: input.count)
        }
        var output = [Float](repeating: 0, count: input.count)
        try input.withUnsafeBufferPointer { (inputBuffer) throws(KernelError) in
            try output.withUnsafeMutableBufferPointer { (outputBuffer) throws(KernelError) in
                try forward(inputBuffer.baseAddress!, into: outputBuffer.baseAddress!, batch: batch)
            }
        }
        return output
    }

    /// Array convenience over `backward(_:inputGradient:)`; returns dL/dinput.
    @discardableResult
    public func backward(_ outputGradient: [Float]) throws(KernelError) -> [Float] {
        guard lastBatch > 0 else { throw KernelError.noForward }
        guard outputGradient.count == lastBatch * width else {
            throw KernelError.wrongLength(
                argument: "output gradient", expected: lastBatch * width,
                actual: outputGradient.count)
        }
        var inputGradient = [Float](repeating: 0, count: outputGradient.count)
        try outputGradient.withUnsafeBufferPointer { (dy) throws(KernelError) in
            try inputGradient.withUnsafeMutableBufferPointer { (dx) throws(KernelError) in
                try backward(dy.baseAddress!, inputGradient: dx.baseAddress!)
            }
        }
        return inputGradient
    }

    public func zeroGradients() { gradients.update(repeating: 0) }

    /// Restores the compiled weights and clears gradients and state.
    public func reset() throws(KernelError) {
        _ = parameters.update(from: compiled.weights)
        zeroGradients()
        runtime.release()
        let status = runtime.start(shape, state: state.baseAddress, seed: compiled.seed)
        if status != KernelStatus.ok { throw KernelError.invalidSpec(status: status, spec: spec.description) }
        lastBatch = 0
    }

    /// Grows the workspace and saved-input buffers to fit `batch` rows (outside the C calls).
    private func reserve(batch: Int) {
        guard batch > reservedBatch else { return }
        reservedBatch = batch
        let needed = max(spec.workspaceCount(batch: batch), 1)
        if workspace.count < needed {
            workspace.deallocate()
            workspace = .allocate(capacity: needed)
            workspace.initialize(repeating: 0)
        }
        if savedInput.count < batch * width {
            savedInput.deallocate()
            savedInput = .allocate(capacity: batch * width)
            savedInput.initialize(repeating: 0)
        }
    }
}
