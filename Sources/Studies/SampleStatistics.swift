// Descriptive statistics of one metric over a group's runs: n, mean, sample std (n − 1), min, max.
import Foundation

/// The spread of one metric over the runs of a group. `std` is the sample standard deviation
/// (divisor n − 1), absent for n < 2; every field but `n` is absent for n = 0.
public struct SampleStatistics: Sendable, Codable, Equatable {
    public var n: Int
    public var mean: Double?
    public var std: Double?
    public var min: Double?
    public var max: Double?

    public init(_ values: [Double]) {
        n = values.count
        guard !values.isEmpty else { return }
        let mean = values.reduce(0, +) / Double(values.count)
        self.mean = mean
        if values.count >= 2 {
            // Two-pass: the sum of squared deviations from the mean (no cancellation when the
            // values are nearly equal).
            let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            std = (squares / Double(values.count - 1)).squareRoot()
        }
        min = values.min()
        max = values.max()
    }

    /// The sample variance (std²), when defined.
    public var variance: Double? { std.map { $0 * $0 } }
}
