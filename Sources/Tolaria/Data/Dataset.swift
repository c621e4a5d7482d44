// Tolaria: the training engine — a host MLP over the C kernels (through Kernels), data sets,
// the epoch loop with validation and the end-of-epoch hook, checkpoints and rollback, and the
// run service that executes training runs on worker threads for /api/v1/runs.
import Kernels

/// Labelled examples in memory: `features` holds `count` rows of `featureCount` floats,
/// row-major, ready to be copied into batches; labels are class indices `0..<classCount`.
public struct Dataset: Sendable, Equatable {
    public var name: String
    public var features: [Float]
    public var labels: [Int32]
    public var featureCount: Int
    public var classCount: Int
    /// The last this many rows are a fixed test split published with the data (MNIST-1D's
    /// last 1,000) or named by the run config; nil: none, a random validation split is cut.
    public var testRows: Int?

    public init(name: String, features: [Float], labels: [Int32], featureCount: Int, classCount: Int) {
        precondition(features.count == labels.count * featureCount, "features and labels disagree")
        self.name = name
        self.features = features
        self.labels = labels
        self.featureCount = featureCount
        self.classCount = classCount
    }

    public var count: Int { labels.count }

    /// The rows at `indices`, in that order.
    public func subset(_ indices: some Collection<Int32>, name: String) -> Dataset {
        var features: [Float] = []
        features.reserveCapacity(indices.count * featureCount)
        var labels: [Int32] = []
        labels.reserveCapacity(indices.count)
        for index in indices {
            let row = Int(index) * featureCount
            features.append(contentsOf: self.features[row..<(row + featureCount)])
            labels.append(self.labels[Int(index)])
        }
        return Dataset(name: name, features: features, labels: labels, featureCount: featureCount, classCount: classCount)
    }
}

/// How features are rescaled. Statistics come from the training split only, so the
/// validation split never leaks into training.
public enum FeatureScaling: String, Sendable, Codable, CaseIterable {
    case none
    /// Divide every feature by the largest |x| of the training split (pixels → 0…1).
    case maxAbs = "max_abs"
    /// Per feature to 0…1 over the training split (constant features become 0).
    case minmax
    /// Per feature to mean 0, standard deviation 1 over the training split.
    case standardize
}

/// A seeded shuffle of the examples cut into a training and a validation part — or, for data
/// with a fixed test split, the rows before it and the split itself, in file order — with the
/// scaling applied. Identical inputs give identical splits on every machine.
public struct DataSplit: Sendable {
    public var training: Dataset
    /// The held-out rows every epoch is evaluated on (test rows when `heldOut` is `.test`).
    public var validation: Dataset
    public var heldOut: HeldOutSplit = .validation

    /// The split a run config asks for: the data's fixed test rows if it has them, else a
    /// random `validation_fraction`.
    public init(_ data: Dataset, spec: DatasetSpec, seed: UInt64) {
        if let testRows = data.testRows, testRows > 0, testRows < data.count {
            self.init(data, testRows: testRows, scaling: spec.effectiveScaling)
        } else {
            self.init(data, validationFraction: spec.validationFraction, seed: seed, scaling: spec.effectiveScaling)
        }
    }

    /// Rows before the last `testRows` train (in file order; epochs shuffle them), the last
    /// `testRows` are the test split.
    public init(_ data: Dataset, testRows: Int, scaling: FeatureScaling) {
        precondition(testRows > 0 && testRows < data.count)
        let cut = Int32(data.count - testRows)
        training = data.subset(0..<cut, name: data.name + "/training")
        validation = data.subset(cut..<Int32(data.count), name: data.name + "/test")
        heldOut = .test
        DataSplit.scale(&training, &validation, scaling)
    }

    public init(_ data: Dataset, validationFraction: Double, seed: UInt64, scaling: FeatureScaling) {
        var order = (0..<Int32(data.count)).map { $0 }
        var rng = RandomGenerator(seed: seed, stream: .split)
        rng.shuffle(&order)
        let validationCount = min(data.count - 1, max(1, Int((Double(data.count) * validationFraction).rounded())))
        validation = data.subset(order[0..<validationCount], name: data.name + "/validation")
        training = data.subset(order[validationCount...], name: data.name + "/training")
        DataSplit.scale(&training, &validation, scaling)
    }

    static func scale(_ training: inout Dataset, _ validation: inout Dataset, _ scaling: FeatureScaling) {
        let width = training.featureCount
        var shift = [Float](repeating: 0, count: width)
        var factor = [Float](repeating: 1, count: width)
        switch scaling {
        case .none:
            return
        case .maxAbs:
            let largest = training.features.reduce(Float(0)) { max($0, abs($1)) }
            if largest > 0 { factor = [Float](repeating: 1 / largest, count: width) }
        case .minmax:
            var low = [Float](repeating: .infinity, count: width), high = [Float](repeating: -.infinity, count: width)
            for (i, x) in training.features.enumerated() {
                low[i % width] = min(low[i % width], x)
                high[i % width] = max(high[i % width], x)
            }
            for j in 0..<width {
                shift[j] = low[j].isFinite ? low[j] : 0
                factor[j] = high[j] > low[j] ? 1 / (high[j] - low[j]) : 0
            }
        case .standardize:
            var sum = [Double](repeating: 0, count: width), squares = [Double](repeating: 0, count: width)
            for (i, x) in training.features.enumerated() {
                sum[i % width] += Double(x)
                squares[i % width] += Double(x) * Double(x)
            }
            let n = Double(max(training.count, 1))
            for j in 0..<width {
                let mean = sum[j] / n
                let variance = max(0, squares[j] / n - mean * mean)
                shift[j] = Float(mean)
                factor[j] = variance > 1e-12 ? Float(1 / variance.squareRoot()) : 0
            }
        }
        for i in training.features.indices { training.features[i] = (training.features[i] - shift[i % width]) * factor[i % width] }
        for i in validation.features.indices { validation.features[i] = (validation.features[i] - shift[i % width]) * factor[i % width] }
    }

    /// The order in which epoch `epoch` visits the training rows: a fresh permutation per
    /// epoch derived from (seed, epoch) alone, so a run resumed from a checkpoint sees exactly
    /// the batches an uninterrupted run would.
    public func epochOrder(seed: UInt64, epoch: Int) -> [Int32] {
        var order = (0..<Int32(training.count)).map { $0 }
        var rng = RandomGenerator(seed: seed, stream: .epochShuffle, offset: UInt64(epoch))
        rng.shuffle(&order)
        return order
    }
}
