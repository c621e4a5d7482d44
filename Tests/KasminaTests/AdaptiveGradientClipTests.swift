import EsperJSON
import Foundation
import Testing
import Tolaria

@testable import Kasmina

/// The design's adaptive gradient clip for seeds (02-kasmina, design extras): 0.1/(1 +
/// 100(α − 0.5)²), only when a run asks for it and never above `gradient_clip_norm`.
@Suite struct AdaptiveGradientClipTests {
    @Test func theBoundFollowsTheDesignsFormula() {
        #expect(AdaptiveGradientClip.norm(alpha: 0.5) == 0.1)
        #expect(abs(AdaptiveGradientClip.norm(alpha: 0) - 0.1 / 26) < 1e-9)
        #expect(abs(AdaptiveGradientClip.norm(alpha: 1) - 0.1 / 26) < 1e-9)
        #expect(abs(AdaptiveGradientClip.norm(alpha: 0.2) - 0.01) < 1e-9)
        #expect(AdaptiveGradientClip.bound(alpha: 0.5, configured: 0.05, adaptive: true) == 0.05, "never looser than configured")
        #expect(AdaptiveGradientClip.bound(alpha: 0.2, configured: 1, adaptive: false) == 1, "off by default")
    }

    /// A seed's SGD step (no momentum) moves its parameters by rate × the clipped gradient, so
    /// the step's norm ÷ rate is the clip bound once the gradient exceeds it.
    @Test(arguments: [Float(0.2), 0.5, 0.9])
    func aSeedsStepIsClippedByItsAlpha(alpha: Float) throws {
        func stepNorm(adaptive: Bool) throws -> (step: Double, gradient: Double) {
            let setup = try SlotMathTests.Setup("BP008", stage: .grafting, alpha: alpha)
            setup.module.settings.adaptiveGradientClip = adaptive
            _ = try SlotMathTests.run(setup)
            let gradient = setup.seedGradients.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let before = Array(UnsafeBufferPointer(start: setup.seed.group.values, count: setup.seed.parameterCount))
            var settings = OptimizerSettings(kind: .sgd, learningRate: 1)
            settings.momentum = 0
            try setup.module.optimizerStep(Optimizer(settings: settings))
            let after = UnsafeBufferPointer(start: setup.seed.group.values, count: setup.seed.parameterCount)
            let moved = zip(before, after).reduce(0.0) { $0 + Double($1.1 - $1.0) * Double($1.1 - $1.0) }.squareRoot()
            return (moved / Double(setup.seed.group.learningRate), gradient)
        }
        let bound = Double(AdaptiveGradientClip.norm(alpha: alpha))
        let adaptive = try stepNorm(adaptive: true)
        try #require(adaptive.gradient > bound, "the gradient (\(adaptive.gradient)) must exceed the bound to show the clip")
        #expect(abs(adaptive.step - bound) <= 1e-3 * bound, "step \(adaptive.step), bound \(bound) at α = \(alpha)")
        let plain = try stepNorm(adaptive: false)
        #expect(abs(plain.step - min(plain.gradient, 1)) <= 1e-3 * plain.step, "without it: gradient_clip_norm (1) only")
    }

    /// A run asks for it with `seeds.adaptive_gradient_clip`; a config stored without the key
    /// (before it existed) still decodes, with the clip off.
    @Test func runsAskForItInTheirSeedSettings() throws {
        func config(_ value: String) throws -> RunConfig {
            try RunConfig.parse(
                JSONValue.parse(
                    #"{"dataset": {"kind": "two_moons"}, "epochs": 3, "learning_rate": 0.01, "policy": "heuristic", "seeds": {"slots": ["slot-0"], "adaptive_gradient_clip": \#(value)}}"#
                ))
        }
        #expect(try config("true").seeds?.adaptiveGradientClip == true)
        #expect(throws: RunConfigError.self) { try config("\"yes\"") }
        let stored = try JanssonEncoder().encode(try config("true"))
        let older = String(decoding: stored, as: UTF8.self).replacingOccurrences(of: #""adaptive_gradient_clip":true,"#, with: "")
            .replacingOccurrences(of: #","adaptive_gradient_clip":true"#, with: "")
        #expect(!older.contains("adaptive_gradient_clip"))
        let decoded = try JanssonDecoder().decode(RunConfig.self, from: Array(older.utf8))
        #expect(decoded.seeds?.adaptiveGradientClip == nil)
    }
}
