internal import CKernels

/// Status codes the C kernels return (`ck_status`, and the seed interface's additions).
public enum KernelStatus {
    public static let ok = CK_OK.rawValue
    public static let nullPointer = CK_ERR_NULL.rawValue
    public static let size = CK_ERR_SIZE.rawValue
    public static let argument = CK_ERR_ARG.rawValue
    public static let label = CK_ERR_LABEL.rawValue
    /// A deadlocking fault kernel's workers gave up on a lock cycle.
    public static let deadlock: Int32 = CK_ERR_DEADLOCK
    /// A backward without its forward, or a bad runtime.
    public static let state: Int32 = CK_ERR_STATE
    /// A guarded call used its CPU budget and was stopped.
    public static let timeout: Int32 = CK_ERR_TIMEOUT
}

/// The `ck_seed_kind` values: what a seed kernel computes (KernelRuntime's `KernelKind` names
/// them; the artifact header stores the number).
public enum SeedKindCode {
    public static let identity = CK_SEED_IDENTITY.rawValue
    public static let linear = CK_SEED_LINEAR.rawValue
    public static let layerNorm = CK_SEED_LAYER_NORM.rawValue
    public static let dropout = CK_SEED_DROPOUT.rawValue
    public static let activation = CK_SEED_ACTIVATION.rawValue
    public static let batchNorm = CK_SEED_BATCH_NORM.rawValue
    public static let maxPool = CK_SEED_MAX_POOL.rawValue
    public static let layerScale = CK_SEED_LAYER_SCALE.rawValue
    public static let groupedLinear = CK_SEED_GROUPED_LINEAR.rawValue
    public static let highway = CK_SEED_HIGHWAY.rawValue
    public static let residualMLP = CK_SEED_RESIDUAL_MLP.rawValue
    public static let gatedFFN = CK_SEED_GATED_FFN.rawValue
    public static let conv1d = CK_SEED_CONV1D.rawValue
    public static let squeezeExcite = CK_SEED_SQUEEZE_EXCITE.rawValue
    public static let sliceAttention = CK_SEED_SLICE_ATTENTION.rawValue
    public static let memoryAttention = CK_SEED_MEMORY_ATTENTION.rawValue
    public static let mixture = CK_SEED_MIXTURE.rawValue
    public static let poolProject = CK_SEED_POOL_PROJECT.rawValue
    public static let denseBlock = CK_SEED_DENSE_BLOCK.rawValue
    public static let positional = CK_SEED_POSITIONAL.rawValue
    public static let recurrent = CK_SEED_RECURRENT.rawValue
    public static let nasMixture = CK_SEED_NAS_MIXTURE.rawValue
    public static let faultExploding = CK_SEED_FAULT_EXPLODING.rawValue
    public static let faultVanishing = CK_SEED_FAULT_VANISHING.rawValue
    public static let faultNaN = CK_SEED_FAULT_NAN.rawValue
    public static let faultSpin = CK_SEED_FAULT_SPIN.rawValue
    public static let faultLeak = CK_SEED_FAULT_LEAK.rawValue
    public static let faultDeadlock = CK_SEED_FAULT_DEADLOCK.rawValue
    public static let faultRace = CK_SEED_FAULT_RACE.rawValue
    public static let faultNoise = CK_SEED_FAULT_NOISE.rawValue
    public static let faultHang = CK_SEED_FAULT_HANG.rawValue
}

/// The `ck_seed_variant` values: how a seed kernel's inner loops run.
public enum SeedVariantCode {
    public static let naive = CK_VARIANT_NAIVE.rawValue
    public static let blas = CK_VARIANT_BLAS.rawValue
    public static let tiled = CK_VARIANT_TILED.rawValue
    public static let scalar = CK_VARIANT_SCALAR.rawValue
    public static let vector = CK_VARIANT_VECTOR.rawValue
}

extension Activation {
    /// The `ck_activation` value (a seed spec's `activation` field).
    public var code: UInt32 { kernel.rawValue }
}

/// One seed kernel's shape as the C seed interface reads it (`ck_seed_spec`; the fields'
/// meaning per kind is in ckernels_seeds.h). KernelRuntime's `KernelSpec` builds it; the C
/// library re-validates it on every call.
public struct SeedShape {
    /// Largest slot width a kernel supports.
    public static let maxWidth = Int(CK_SEED_MAX_WIDTH)

    var raw: ck_seed_spec

    public init(
        kind: UInt32, width: UInt32, hidden: UInt32, count: UInt32, rounds: UInt32, window: UInt32, dilation: UInt32, topK: UInt32,
        activation: UInt32, causal: Bool, iterations: UInt32, scalar: Float, variant: UInt32, tile: (m: UInt32, n: UInt32, k: UInt32)
    ) {
        raw = ck_seed_spec(
            kind: kind, d: width, hidden: hidden, count: count, rounds: rounds, window: window, dilation: dilation, top_k: topK,
            activation: activation, causal: causal ? 1 : 0, iterations: iterations, scalar: scalar, variant: variant,
            tile_m: tile.m, tile_n: tile.n, tile_k: tile.k)
    }

    /// `KernelStatus.ok` when the spec is well-formed (kind rules, sizes, variant, the size cap).
    public func validate() -> Int32 { withUnsafePointer(to: raw) { ck_seed_validate($0) } }

    /// Floats in the flat parameter buffer (and the gradient buffer); 0 for invalid shapes.
    public var parameterCount: Int { withUnsafePointer(to: raw) { ck_seed_param_floats($0) } }

    /// Floats of workspace one forward/backward over `batch` rows needs.
    public func workspaceCount(batch: Int) -> Int { withUnsafePointer(to: raw) { ck_seed_workspace_floats($0, batch) } }

    /// Floats of persistent state (batch-norm running statistics).
    public var stateCount: Int { withUnsafePointer(to: raw) { ck_seed_state_floats($0) } }

    /// Approximate floating-point operations of one forward over `batch` rows.
    public func forwardFlops(batch: Int) -> Double { withUnsafePointer(to: raw) { ck_seed_forward_flops($0, batch) } }

    /// The tensor table: names, shapes and where each lives in the parameter buffer.
    public var tensors: [KernelTensor] {
        withUnsafePointer(to: raw) { spec in
            (0..<ck_seed_tensor_count(spec)).compactMap { index in
                var info = ck_seed_tensor()
                guard ck_seed_tensor_info(spec, index, &info) == CK_OK.rawValue else { return nil }
                return KernelTensor(info)
            }
        }
    }

    /// Writes every tensor of `parameters` (`parameterCount` floats) per its initialisation rule
    /// from SplitMix64 seeded with `seed` (identical on every platform).
    public func initialiseParameters(_ parameters: UnsafeMutablePointer<Float>?, seed: UInt64) -> Int32 {
        withUnsafePointer(to: raw) { ck_seed_init_params($0, parameters, seed) }
    }
}

/// One seed kernel instance's runtime (`ck_seed_runtime`): its persistent state, dropout seed
/// and step, training flag and a fault kernel's private arena. Not thread-safe: one owner.
public final class SeedRuntime {
    private let runtime: UnsafeMutablePointer<ck_seed_runtime>

    public init() {
        runtime = .allocate(capacity: 1)
        runtime.initialize(to: ck_seed_runtime())
    }

    deinit {
        ck_seed_runtime_release(runtime)
        runtime.deallocate()
    }

    /// Prepares the runtime for `shape` (training mode, step 0) and initialises `state`
    /// (`shape.stateCount` floats, the caller's).
    public func start(_ shape: SeedShape, state: UnsafeMutablePointer<Float>?, seed: UInt64) -> Int32 {
        withUnsafePointer(to: shape.raw) { ck_seed_runtime_init(runtime, $0, state, seed) }
    }

    /// Frees what a fault kernel allocated (safe to call twice).
    public func release() { ck_seed_runtime_release(runtime) }

    public var training: Bool {
        get { runtime.pointee.training != 0 }
        set { runtime.pointee.training = newValue ? 1 : 0 }
    }

    public var step: UInt64 {
        get { runtime.pointee.step }
        set { runtime.pointee.step = newValue }
    }

    /// Bytes a fault kernel has allocated for itself.
    public var arenaBytes: Int { runtime.pointee.arena_bytes }

    /// output[batch, width] = kernel(input) under a CPU-time deadline (0 = none); saves what the
    /// backward needs in `workspace`. `KernelStatus.timeout` when stopped at the deadline.
    public func forward(
        _ shape: SeedShape, parameters: UnsafePointer<Float>?, workspace: UnsafeMutablePointer<Float>?,
        output: UnsafeMutablePointer<Float>?, input: UnsafePointer<Float>?, batch: Int, cpuBudgetNanoseconds: UInt64
    ) -> Int32 {
        withUnsafePointer(to: shape.raw) {
            ck_seed_forward_within($0, parameters, runtime, workspace, output, input, batch, cpuBudgetNanoseconds)
        }
    }

    /// After a forward over the same input: parameterGradient += ∂L/∂θ, inputGradient (optional)
    /// = ∂L/∂input (overwritten), under the same kind of deadline.
    public func backward(
        _ shape: SeedShape, parameters: UnsafePointer<Float>?, workspace: UnsafeMutablePointer<Float>?,
        parameterGradient: UnsafeMutablePointer<Float>?, inputGradient: UnsafeMutablePointer<Float>?,
        outputGradient: UnsafePointer<Float>?, input: UnsafePointer<Float>?, batch: Int, cpuBudgetNanoseconds: UInt64
    ) -> Int32 {
        withUnsafePointer(to: shape.raw) {
            ck_seed_backward_within(
                $0, parameters, runtime, workspace, parameterGradient, inputGradient, outputGradient, input, batch,
                cpuBudgetNanoseconds)
        }
    }
}

extension Kernels {
    /// fork() without the atfork handlers (OpenBLAS's would stop its pool under a running GEMM);
    /// in the child every descriptor but 0–2 and `descriptor` is closed, and it must set
    /// `blasThreads = 1` before any GEMM. Returns as fork().
    public static func watchdogFork(keeping descriptor: Int32) -> Int32 { ck_watchdog_fork(descriptor) }
}
