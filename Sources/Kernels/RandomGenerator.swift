internal import CKernels

/// PCG32 from the C kernels: the same seed and stream give the same numbers on every machine,
/// which is what makes identical configs produce identical loss curves. Each consumer (data
/// generation, split, per-epoch shuffle, initialisation) takes its own stream so changing one
/// never shifts another.
public struct RandomGenerator: Sendable {
    var state: ck_rng

    /// Streams used by Tolaria; any other value is free for callers.
    public enum Stream: UInt64 {
        case dataGeneration = 1
        case split = 2
        case initialisation = 3
        /// Epoch e shuffles with stream `epochShuffle + e`.
        case epochShuffle = 1_000
        /// Epoch e draws its training-input noise from stream `inputNoise + e`.
        case inputNoise = 1_000_000_000
    }

    public init(seed: UInt64, stream: UInt64) {
        state = ck_rng(state: 0, inc: 0)
        ck_rng_seed(&state, seed, stream)
    }

    public init(seed: UInt64, stream: Stream, offset: UInt64 = 0) {
        self.init(seed: seed, stream: stream.rawValue &+ offset)
    }

    public mutating func nextUInt32() -> UInt32 { ck_rng_next_u32(&state) }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { ck_rng_uniform(&state) }

    /// Standard normal.
    public mutating func normal() -> Float { ck_rng_normal(&state) }

    /// Uniform integer in 0..<bound without modulo bias (Lemire's method, deterministic).
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0 && bound <= Int(UInt32.max))
        let range = UInt32(bound)
        var product = UInt64(nextUInt32()) * UInt64(range)
        var low = UInt32(truncatingIfNeeded: product)
        if low < range {
            let threshold = (0 &- range) % range
            while low < threshold {
                product = UInt64(nextUInt32()) * UInt64(range)
                low = UInt32(truncatingIfNeeded: product)
            }
        }
        return Int(product >> 32)
    }

    /// Fisher–Yates shuffle of the indices in place.
    public mutating func shuffle(_ indices: inout [Int32]) {
        guard indices.count > 1 else { return }
        for i in stride(from: indices.count - 1, to: 0, by: -1) {
            indices.swapAt(i, nextInt(below: i + 1))
        }
    }

    /// weights[count] ~ U(low, high), overwritten.
    public mutating func initialiseUniform(_ weights: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
        ck_init_uniform(&state, weights, count, low, high)
    }

    /// Kaiming-uniform (ReLU/GELU) or Xavier-uniform (tanh/identity) weights.
    public mutating func initialiseWeights(
        _ weights: UnsafeMutablePointer<Float>, count: Int, fanIn: Int, fanOut: Int,
        scheme: WeightInitialisation
    ) {
        switch scheme {
        case .kaimingUniform: _ = ck_init_kaiming_uniform(&state, weights, count, fanIn)
        case .xavierUniform: _ = ck_init_xavier_uniform(&state, weights, count, fanIn, fanOut)
        }
    }
}

/// How host weights are drawn.
public enum WeightInitialisation: String, Sendable, Codable, CaseIterable {
    case kaimingUniform = "kaiming_uniform"
    case xavierUniform = "xavier_uniform"
}
