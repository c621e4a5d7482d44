import EsperTestSupport
import Foundation
import Karn
import KernelRuntime
import Testing

@testable import Tezzeret

/// Every slot template's kernel has the defining property of the operation its name states
/// (docs/blueprints.md lists kind and math per template): a forward pass of the compiled
/// kernel — with every tensor, including the zero-initialised output projections, filled with
/// seeded values so each path carries signal — is checked against that property.
@Suite struct CatalogMathTests {
    /// The operation each name states, and how it is recognised from outside the kernel.
    enum Operation {
        case identity
        /// f(x) = A x + c for some A, c: f(x + t·v) − f(x) is linear in t.
        case affine
        /// y_i depends on x_i only.
        case elementwise
        /// Per row: invariant to x → a·x + b (a > 0).
        case rowNormalisation
        /// Features normalised over the batch: a row's output depends on other rows.
        case batchNormalisation
        /// y_i = max of the features in a window around i.
        case slidingMax
        /// A feature's output depends only on features within a window (a convolution).
        case convolution(reach: Int, causal: Bool)
        /// Slices of the features attend to each other: output features depend on features of
        /// every other slice, through input-dependent (softmax) weights — not affine.
        case sliceAttention
        /// Per row, attention over learned memory slots: nonlinear in x, rows independent.
        case rowNonlinear
    }

    static let operations: [String: Operation] = [
        "BP001": .identity, "BP002": .affine, "BP003": .rowNormalisation, "BP004": .identity /* eval mode */,
        "BP005": .elementwise, "BP006": .batchNormalisation, "BP007": .slidingMax, "BP008": .rowNonlinear, "BP009": .rowNonlinear,
        "BP010": .rowNonlinear, "BP011": .elementwise, "BP012": .elementwise, "BP013": .affine, "BP014": .rowNonlinear,
        "BP015": .convolution(reach: 3, causal: false), "BP016": .rowNonlinear, "BP017": .sliceAttention,
        "BP018": .convolution(reach: 2, causal: false), "BP019": .sliceAttention, "BP020": .rowNonlinear, "BP021": .rowNonlinear,
        "BP022": .sliceAttention, "BP023": .rowNonlinear, "BP024": .convolution(reach: 5, causal: false), "BP025": .rowNonlinear,
        "BP026": .affine /* average pooling + projection */, "BP027": .affine, "BP028": .rowNonlinear, "BP029": .sliceAttention,
        "BP030": .sliceAttention, "BP031": .convolution(reach: 6, causal: true), "BP032": .convolution(reach: 8, causal: false),
        "BP033": .affine, "BP034": .sliceAttention, "BP035": .affine, "BP036": .rowNonlinear, "BP037": .sliceAttention,
        "BP038": .rowNonlinear, "BP039": .rowNonlinear, "BP040": .rowNonlinear, "BP041": .rowNonlinear, "BP042": .rowNonlinear,
    ]

    static let width = 64
    static let batch = 8

    static func kernel(_ id: String) throws -> SeedKernel {
        let template = try #require(try KarnCatalog().template(id))
        let validated = try template.validate(template.forgeParameters)
        let spec = try ShapeBuilder.forgeSpec(for: template, effective: validated.effective, width: width).spec
        var weights = try spec.initialParameters(seed: 5)
        let fill = ValidationGates.input(weights.count, seed: 17)
        for tensor in spec.tensors where tensor.initialisation == .zero {
            for i in tensor.offset..<tensor.offset + tensor.count { weights[i] = 0.3 * fill[i] }
        }
        let instance = try CompiledKernel(blueprintId: id, spec: spec, weights: weights, seed: 5).instantiate()
        instance.step = 1
        instance.training = false
        return instance
    }

    /// |(f(x + 2h) − f(x)) − 2 (f(x + h) − f(x))| per output: 0 for an affine map.
    static func secondDifference(_ base: [Float], _ one: [Float], _ two: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: base.count)
        for i in 0..<base.count {
            let a: Float = two[i] - base[i]
            let c: Float = one[i] - base[i]
            out[i] = abs(a - 2 * c)
        }
        return out
    }

    static func differs(_ a: [Float], _ b: [Float], at i: Int) -> Bool { abs(a[i] - b[i]) > 1e-6 * max(1, abs(a[i])) }

    @Test(arguments: (1...42).map { String(format: "BP%03d", $0) })
    func theKernelComputesWhatTheNameStates(id: String) throws {
        let operation = try #require(CatalogMathTests.operations[id], "\(id) has no stated operation")
        let k = try CatalogMathTests.kernel(id)
        let (d, b) = (CatalogMathTests.width, CatalogMathTests.batch)
        let x = ValidationGates.input(b * d, seed: 3)
        let y = try k.forward(x, batch: b)
        func perturbed(_ feature: Int, by delta: Float = 0.25, row: Int = 0) throws -> [Float] {
            var x2 = x
            x2[row * d + feature] += delta
            return try k.forward(x2, batch: b)
        }
        switch operation {
        case .identity:
            #expect(y == x, "\(id): y = x")
        case .affine:
            // f(x + 2v) − f(x) = 2 (f(x + v) − f(x)) for a direction v.
            let v = ValidationGates.input(b * d, seed: 4)
            let one = try k.forward(zip(x, v).map { $0 + 0.1 * $1 }, batch: b)
            let two = try k.forward(zip(x, v).map { $0 + 0.2 * $1 }, batch: b)
            let worst = CatalogMathTests.secondDifference(y, one, two).max()!
            #expect(worst < 1e-4, "\(id): not affine (\(worst))")
        case .elementwise:
            let moved = try perturbed(10)
            #expect((0..<d).filter { CatalogMathTests.differs(moved, y, at: $0) } == [10], "\(id): not element-wise")
        case .rowNormalisation:
            var shifted = x
            for i in 0..<d { shifted[i] = 3 * x[i] + 1.5 }
            let z = try k.forward(shifted, batch: b)
            #expect((0..<d).allSatisfy { abs(z[$0] - y[$0]) < 5e-3 }, "\(id): not a row normalisation")
        case .batchNormalisation:
            // Training mode: statistics over the batch — row 1 changes when row 0 does.
            k.training = true
            let base = try k.forward(x, batch: b)
            let moved = try perturbed(5, by: 3)
            #expect(CatalogMathTests.differs(moved, base, at: d + 5), "\(id): rows do not share statistics")
        case .slidingMax:
            let window = Int(try KarnCatalog().template(id)!.forgeParameters["kernel"]!.rounded())
            let left = (window - 1) / 2
            for i in 0..<d {
                let lo = max(0, i - left), hi = min(d - 1, i - left + window - 1)
                #expect(y[i] == x[lo...hi].max()!, "\(id): y[\(i)] is not the window's max")
            }
        case .convolution(let reach, let causal):
            let j = 32
            let moved = try perturbed(j)
            let changed = (0..<d).filter { CatalogMathTests.differs(moved, y, at: $0) }
            #expect(!changed.isEmpty && changed.allSatisfy { abs($0 - j) <= reach }, "\(id): feature \(j) reached \(changed)")
            if causal { #expect(changed.allSatisfy { $0 >= j }, "\(id): causal, yet earlier features moved: \(changed)") }
            #expect(changed.count > 1, "\(id): a convolution mixes neighbouring features")
            #expect((d..<(2 * d)).allSatisfy { !CatalogMathTests.differs(moved, y, at: $0) }, "\(id): rows are independent")
        case .sliceAttention:
            // A feature of the first slice moves features of the last slice…
            let moved = try perturbed(0)
            #expect(CatalogMathTests.differs(moved, y, at: d - 1), "\(id): slices do not attend to each other")
            // …with weights that depend on the input (softmax), so the map is not affine.
            let twice = try perturbed(0, by: 0.5)
            let nonlinear = CatalogMathTests.secondDifference(y, moved, twice).prefix(d).contains { $0 > 1e-4 }
            #expect(nonlinear, "\(id): the mixing is affine, not attention")
            #expect((d..<(2 * d)).allSatisfy { !CatalogMathTests.differs(moved, y, at: $0) }, "\(id): rows are independent")
        case .rowNonlinear:
            // Row 0 moved along a direction, by h and 2h (large enough to leave any linear regime).
            let v = ValidationGates.input(d, seed: 9)
            func along(_ h: Float) throws -> [Float] {
                var x2 = x
                for i in 0..<d { x2[i] += h * v[i] }
                return try k.forward(x2, batch: b)
            }
            let moved = try along(2), twice = try along(4)
            let nonlinear = CatalogMathTests.secondDifference(y, moved, twice).prefix(d).contains { $0 > 1e-5 }
            #expect(nonlinear, "\(id): affine, not the named block")
            #expect((d..<(2 * d)).allSatisfy { !CatalogMathTests.differs(moved, y, at: $0) }, "\(id): rows are independent")
        }
    }
}
