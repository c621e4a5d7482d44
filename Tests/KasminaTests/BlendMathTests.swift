import Foundation
import Kasmina
import Testing

/// The element-wise arithmetic against straightforward references.
@Suite struct BlendMathTests {
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: state >> 11) % 2000) / 1000 - 1
        }
    }

    @Test func blendsMatchTheirFormulasAndAreExactAtTheEnds() {
        let n = 97
        let x = BlendMathTests.values(n, seed: 1), s = BlendMathTests.values(n, seed: 2), xBar = x
        var y = [Float](repeating: .nan, count: n)
        for alpha: Float in [0, 0.25, 0.5, 0.9, 1] {
            BlendMath.convexBlend(&y, x: x, s: s, alpha: alpha, count: n)
            for i in 0..<n { #expect(y[i] == (1 - alpha) * x[i] + alpha * s[i] || (alpha == 1 && y[i] == s[i])) }
            BlendMath.residualBlend(&y, x: x, s: s, xBar: xBar, alpha: alpha, count: n)
            for i in 0..<n { #expect(y[i] == x[i] + alpha * (s[i] - xBar[i]) || (alpha == 0 && y[i] == x[i])) }
        }
        // α = 0 is the host bit for bit even when the seed's output is NaN or ±Inf.
        let poisoned = [Float](repeating: .nan, count: n)
        BlendMath.convexBlend(&y, x: x, s: poisoned, alpha: 0, count: n)
        #expect(y.map(\.bitPattern) == x.map(\.bitPattern))
        BlendMath.residualBlend(&y, x: x, s: poisoned, xBar: xBar, alpha: 0, count: n)
        #expect(y.map(\.bitPattern) == x.map(\.bitPattern))
        BlendMath.convexBlend(&y, x: [Float](repeating: .infinity, count: n), s: s, alpha: 1, count: n)
        #expect(y == s)
    }

    @Test func gradientScalingAndChecks() {
        let n = 64
        let delta = BlendMathTests.values(n, seed: 3)
        var out = [Float](repeating: 0, count: n)
        BlendMath.scale(&out, delta, by: 1, count: n)
        #expect(out.map(\.bitPattern) == delta.map(\.bitPattern))
        BlendMath.scale(&out, delta, by: 0, count: n)
        #expect(out.allSatisfy { $0 == 0 })
        BlendMath.scale(&out, delta, by: 0.3, count: n)
        #expect(BlendMath.l1Deviation(out, expectedScale: 0.3, of: delta, count: n) == 0)
        out[5] += 1e-3
        #expect(abs(BlendMath.l1Deviation(out, expectedScale: 0.3, of: delta, count: n) - 1e-3) < 1e-6)
        #expect(BlendMath.allFinite(delta, count: n))
        #expect(!BlendMath.allFinite([1, .nan], count: 2) && !BlendMath.allFinite([.infinity], count: 1))
        #expect(abs(BlendMath.l2Norm([3, 4], count: 2) - 5) < 1e-12)
        #expect(BlendMath.drift([1, 0, 0, 1], [1, 0, 0, 1], batch: 2, width: 2) == 0)
        #expect(abs(BlendMath.drift([1, 0], [0, 1], batch: 1, width: 2) - 1) < 1e-12)
        var a: UInt64 = 1, b: UInt64 = 1
        BlendMath.digest([1, 2, 3], count: 3, into: &a)
        BlendMath.digest([1, 2, 3.0000002], count: 3, into: &b)
        #expect(a != b)
    }

    @Test func theAlphaRampIsASigmoidClampedAtBothEnds() {
        let ramp = AlphaSchedule(steps: 30)
        #expect(ramp.alpha(atStep: 0) == 0 && ramp.alpha(atStep: -3) == 0)
        #expect(ramp.alpha(atStep: 30) == 1 && ramp.alpha(atStep: 31) == 1)
        #expect(ramp.alpha(atStep: 15) == 0.5)
        var previous: Float = 0
        for t in 1..<30 {
            let alpha = ramp.alpha(atStep: t)
            #expect(alpha > 0 && alpha < 1 && alpha >= previous)
            #expect(abs(Double(alpha) - 1 / (1 + exp(-(Double(t) - 15)))) < 1e-6)
            previous = alpha
        }
        // A warmer ramp is gentler in the middle.
        #expect(AlphaSchedule(steps: 30, temperature: 5).alpha(atStep: 10) > ramp.alpha(atStep: 10))
    }
}
