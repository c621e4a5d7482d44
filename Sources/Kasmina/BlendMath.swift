import Foundation

/// The element-wise arithmetic of a slot (README-morphogenesis §4) over [batch, width]
/// buffers: the blends of the forward, the host-path scaling of the backward, and the
/// measurements the isolation checks need. Plain loops the compiler vectorises; no
/// allocation. Each has a straightforward reference in the tests.
public enum BlendMath {
    /// y = x, bit for bit (the host function: UNKNOWN/TRAINING/CULLING stages, PAUSE, ablation).
    @inline(__always)
    public static func copy(_ x: UnsafePointer<Float>, to y: UnsafeMutablePointer<Float>, count: Int) {
        y.update(from: x, count: count)
    }

    /// y = (1 − α)·x + α·s, exactly x at α = 0 and exactly s at α = 1 (no 0·∞ surprises).
    public static func convexBlend(
        _ y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, s: UnsafePointer<Float>,
        alpha: Float, count: Int
    ) {
        if alpha == 0 { return copy(x, to: y, count: count) }
        if alpha == 1 { return copy(s, to: y, count: count) }
        let keep = 1 - alpha
        for i in 0..<count { y[i] = keep * x[i] + alpha * s[i] }
    }

    /// y = x + α·(s − x̄): the residual form for kernels with k(x) = x + a(x); exactly x at α = 0.
    public static func residualBlend(
        _ y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, s: UnsafePointer<Float>,
        xBar: UnsafePointer<Float>, alpha: Float, count: Int
    ) {
        if alpha == 0 { return copy(x, to: y, count: count) }
        for i in 0..<count { y[i] = x[i] + alpha * (s[i] - xBar[i]) }
    }

    /// out = c·δ (exactly δ for c = 1, exactly 0 for c = 0).
    public static func scale(_ out: UnsafeMutablePointer<Float>, _ delta: UnsafePointer<Float>, by c: Float, count: Int) {
        if c == 1 { return copy(delta, to: out, count: count) }
        if c == 0 { out.update(repeating: 0, count: count); return }
        for i in 0..<count { out[i] = c * delta[i] }
    }

    /// out += α·v (nothing at all for α = 0: the host's pre-activation stays bit for bit).
    public static func addScaled(_ out: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, alpha: Float, count: Int) {
        if alpha == 0 { return }
        if alpha == 1 { return add(out, v, count: count) }
        for i in 0..<count { out[i] += alpha * v[i] }
    }

    /// out += v.
    public static func add(_ out: UnsafeMutablePointer<Float>, _ v: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { out[i] += v[i] }
    }

    /// Σ|a − c·δ| in double: how far a received gradient is from the expected c·δ (computed
    /// here independently of the code that produced `a`).
    public static func l1Deviation(
        _ a: UnsafePointer<Float>, expectedScale c: Float, of delta: UnsafePointer<Float>,
        count: Int
    ) -> Double {
        var sum = 0.0
        for i in 0..<count { sum += abs(Double(a[i]) - Double(c * delta[i])) }
        return sum
    }

    /// Σ|a − b| in double.
    public static func l1Distance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        var sum = 0.0
        for i in 0..<count { sum += abs(Double(a[i]) - Double(b[i])) }
        return sum
    }

    public static func allFinite(_ p: UnsafePointer<Float>, count: Int) -> Bool {
        for i in 0..<count where !p[i].isFinite { return false }
        return true
    }

    /// √Σv² in double.
    public static func l2Norm(_ p: UnsafePointer<Float>, count: Int) -> Double {
        var sum = 0.0
        for i in 0..<count { sum += Double(p[i]) * Double(p[i]) }
        return sum.squareRoot()
    }

    /// Mean over rows of 1 − cos(h_row, y_row): the interface drift of gate G2 (0 when y = h).
    public static func drift(_ h: UnsafePointer<Float>, _ y: UnsafePointer<Float>, batch: Int, width: Int) -> Double {
        guard batch > 0 else { return 0 }
        var total = 0.0
        for row in 0..<batch {
            var dot = 0.0, hh = 0.0, yy = 0.0
            for j in 0..<width {
                let a = Double(h[row * width + j]), b = Double(y[row * width + j])
                dot += a * b
                hh += a * a
                yy += b * b
            }
            let denominator = (hh * yy).squareRoot()
            total += denominator > 0 ? 1 - dot / denominator : (hh == yy ? 0 : 1)
        }
        return total / Double(batch)
    }

    /// An order-sensitive 64-bit digest of float bit patterns (FNV-1a over 32-bit words): the
    /// host-immutability check compares it before and after a seed's optimizer step.
    public static func digest(_ p: UnsafePointer<Float>, count: Int, into hash: inout UInt64) {
        let words = UnsafeRawPointer(p).assumingMemoryBound(to: UInt32.self)
        var h = hash
        for i in 0..<count {
            h ^= UInt64(words[i])
            h = h &* 0x0000_0100_0000_01B3
        }
        hash = h
    }
}

/// The α ramp of GRAFTING (02-kasmina §6): α_t = σ((t − T/2)/τ) over T optimizer steps,
/// clamped to exactly 0 at t = 0 and exactly 1 at t ≥ T (σ(±15) is only nearly 0 and 1).
public struct AlphaSchedule: Sendable, Equatable {
    public let steps: Int
    public let temperature: Double

    public init(steps: Int, temperature: Double = 1) {
        precondition(steps > 0 && temperature > 0)
        self.steps = steps
        self.temperature = temperature
    }

    public func alpha(atStep t: Int) -> Float {
        if t <= 0 { return 0 }
        if t >= steps { return 1 }
        let z = (Double(t) - Double(steps) / 2) / temperature
        return Float(1 / (1 + exp(-z)))
    }
}
