internal import CKernels

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

    private var cSpec: ck_seed_spec
    private let runtime: UnsafeMutablePointer<ck_seed_runtime>
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
        guard let cSpec = compiled.spec.cSpec else {
            throw KernelError.invalidSpec(status: CK_ERR_SIZE.rawValue, spec: compiled.spec.description)
        }
        self.compiled = compiled
        self.cSpec = cSpec
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
        runtime = .allocate(capacity: 1)
        runtime.initialize(to: ck_seed_runtime())
        let status = ck_seed_runtime_init(runtime, &self.cSpec, state.baseAddress, compiled.seed)
        if status != CK_OK.rawValue {
            throw KernelError.invalidSpec(status: status, spec: compiled.spec.description)
        }
    }

    deinit {
        ck_seed_runtime_release(runtime)
        runtime.deallocate()
        if ownsBuffers {
            parameters.deallocate()
            gradients.deallocate()
        }
        state.deallocate()
        workspace.deallocate()
        savedInput.deallocate()
    }

    public var training: Bool {
        get { runtime.pointee.training != 0 }
        set { runtime.pointee.training = newValue ? 1 : 0 }
    }

    public var step: UInt64 {
        get { runtime.pointee.step }
        set { runtime.pointee.step = newValue }
    }

    /// CPU time one call may use before the watchdog timer stops it (`CK_ERR_TIMEOUT`); 0 = no
    /// deadline. Kasmina sets it for every seed call of a training run.
    public var cpuBudgetNanoseconds: UInt64 = 0
    /// A call was stopped by its deadline: the kernel's state is abandoned, every later call fails.
    public private(set) var stopped = false

    /// Bytes a fault kernel has allocated for itself (the leak gate watches this; 0 for every
    /// honest kernel, which never allocates).
    public var privateAllocationBytes: Int { runtime.pointee.arena_bytes }

    /// output[batch, width] = kernel(input[batch, width]); both buffers are the caller's.
    public func forward(
        _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>,
        batch: Int
    ) throws(KernelError) {
        guard batch >= 1 && batch <= SeedKernel.maxBatch else { throw KernelError.invalidBatch(batch) }
        guard !stopped else { throw KernelError.failed(operation: "forward", status: CK_ERR_TIMEOUT) }
        let elements = batch * width
        reserve(batch: batch)
        savedInput.baseAddress!.update(from: input, count: elements)
        lastBatch = 0
        let status = ck_seed_forward_within(
            &cSpec, parameters.baseAddress, runtime, workspace.baseAddress, output,
            savedInput.baseAddress, batch, cpuBudgetNanoseconds)
        if status == CK_ERR_TIMEOUT { stopped = true }
        if status != CK_OK.rawValue { throw KernelError.failed(operation: "forward", status: status) }
        lastBatch = batch
    }

    /// After `forward`: gradients += dL/dθ; inputGradient (if given) = dL/dinput.
    public func backward(
        _ outputGradient: UnsafePointer<Float>,
        inputGradient: UnsafeMutablePointer<Float>?
    ) throws(KernelError) {
        guard lastBatch > 0 else { throw KernelError.noForward }
        let status = ck_seed_backward_within(
            &cSpec, parameters.baseAddress, runtime, workspace.baseAddress,
            gradients.baseAddress, inputGradient, outputGradient, savedInput.baseAddress,
            lastBatch, cpuBudgetNanoseconds)
        if status == CK_ERR_TIMEOUT { stopped = true }
        if status != CK_OK.rawValue { throw KernelError.failed(operation: "backward", status: status) }
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
        ck_seed_runtime_release(runtime)
        let status = ck_seed_runtime_init(runtime, &cSpec, state.baseAddress, compiled.seed)
        if status != CK_OK.rawValue { throw KernelError.invalidSpec(status: status, spec: spec.description) }
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
