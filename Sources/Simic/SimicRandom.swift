import Kernels

/// PCG32 from the C kernels (the same generator on every machine): Simic's sampling,
/// hold-out split and minibatch order all come from it, so a fixed seed reproduces a job.
struct SimicRandom {
    private var rng: RandomGenerator

    init(seed: UInt64, stream: UInt64) { rng = RandomGenerator(seed: seed, stream: stream) }

    /// Uniform in [0, n) (n ≥ 1), by rejection (no modulo bias).
    mutating func below(_ n: Int) -> Int {
        precondition(n >= 1)
        let bound = UInt32(n)
        let threshold = (0 &- bound) % bound
        while true {
            let r = rng.nextUInt32()
            if r >= threshold { return Int(r % bound) }
        }
    }

    mutating func shuffle<T>(_ values: inout [T]) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) { values.swapAt(i, below(i + 1)) }
    }
}
