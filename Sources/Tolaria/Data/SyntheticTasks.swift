import Foundation
import Kernels

/// Built-in toy problems, generated from a seed (PCG32, its own stream) so every machine
/// gets the same points. Sizes and noise come from the run config.
public enum SyntheticTask: String, Sendable, Codable, CaseIterable {
    /// Two interleaved half circles (sklearn's `make_moons` shape), 2 features, 2 classes.
    case twoMoons = "two_moons"
    /// Two interleaved Archimedean spirals, 2 features, 2 classes.
    case twoSpirals = "two_spirals"
    /// Uniform points in [-1, 1]²; the class is whether x·y < 0.
    case xor
    /// Uniform points in [-1, 1]² coloured by a `cells × cells` checkerboard.
    case checkerboard
    /// `classes` Gaussian clusters (standard deviation = noise) in `features` dimensions.
    case gaussianBlobs = "gaussian_blobs"

    public struct Parameters: Sendable, Equatable {
        public var samples = 1000
        public var noise = 0.2
        public var classes = 3
        public var features = 2
        public var cells = 4
        public var seed: UInt64 = 0
        public init() {}
    }

    public var defaultNoise: Double {
        switch self {
        case .twoMoons: 0.2
        case .twoSpirals: 0.1
        case .xor, .checkerboard: 0
        case .gaussianBlobs: 1.0
        }
    }

    public func generate(_ p: Parameters) -> Dataset {
        var rng = RandomGenerator(seed: p.seed, stream: .dataGeneration)
        var features: [Float] = []
        var labels: [Int32] = []
        let noise = Float(p.noise)
        func add(_ point: [Float], _ label: Int) {
            for x in point { features.append(x + noise * rng.normal()) }
            labels.append(Int32(label))
        }
        switch self {
        case .twoMoons:
            let outer = p.samples / 2, inner = p.samples - outer
            for i in 0..<outer {
                let t = Float.pi * Float(i) / Float(max(outer - 1, 1))
                add([cos(t), sin(t)], 0)
            }
            for i in 0..<inner {
                let t = Float.pi * Float(i) / Float(max(inner - 1, 1))
                add([1 - cos(t), 0.5 - sin(t)], 1)
            }
        case .twoSpirals:
            let perClass = p.samples / 2
            for label in 0..<2 {
                for _ in 0..<(label == 0 ? perClass : p.samples - perClass) {
                    // Radius grows with the angle; sqrt spreads points evenly along the arm.
                    let t = (0.05 + 0.95 * rng.uniform().squareRoot()) * 3 * Float.pi
                    let r = t / (3 * Float.pi)
                    let sign: Float = label == 0 ? 1 : -1
                    add([sign * r * cos(t), sign * r * sin(t)], label)
                }
            }
        case .xor:
            for _ in 0..<p.samples {
                let x = 2 * rng.uniform() - 1, y = 2 * rng.uniform() - 1
                add([x, y], x * y < 0 ? 1 : 0)
            }
        case .checkerboard:
            for _ in 0..<p.samples {
                let x = rng.uniform(), y = rng.uniform()
                let cell = Int(x * Float(p.cells)) + Int(y * Float(p.cells))
                add([2 * x - 1, 2 * y - 1], cell % 2)
            }
        case .gaussianBlobs:
            var centres: [[Float]] = []
            for _ in 0..<p.classes { centres.append((0..<p.features).map { _ in 20 * rng.uniform() - 10 }) }
            for i in 0..<p.samples { add(centres[i % p.classes], i % p.classes) }
        }
        let width = self == .gaussianBlobs ? p.features : 2
        let classes = self == .gaussianBlobs ? p.classes : 2
        return Dataset(name: rawValue, features: features, labels: labels, featureCount: width, classCount: classes)
    }
}
