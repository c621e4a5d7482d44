// The statistics of studies against values computed by hand and by scipy (provenance with each).
import Foundation
import Testing

@testable import Studies

@Suite struct StatisticsTests {
    func close(_ a: Double?, _ b: Double, _ tolerance: Double = 1e-9) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tolerance * max(1, abs(b))
    }

    @Test func sampleStatisticsByHand() {
        // 2,4,4,4,5,5,7,9: mean 5, Σ(x−5)² = 32, sample variance 32/7, std √(32/7) = 2.138089935299395.
        let stats = SampleStatistics([2, 4, 4, 4, 5, 5, 7, 9])
        #expect(stats.n == 8 && stats.mean == 5 && stats.min == 2 && stats.max == 9)
        #expect(close(stats.std, (32.0 / 7).squareRoot()))
        // n = 1: a mean, no std.
        let one = SampleStatistics([0.5])
        #expect(one.n == 1 && one.mean == 0.5 && one.std == nil && one.min == 0.5 && one.max == 0.5)
        // Identical values: std exactly 0 (two-pass, no cancellation).
        #expect(SampleStatistics([0.98611, 0.98611, 0.98611]).std == 0)
        let none = SampleStatistics([])
        #expect(none.n == 0 && none.mean == nil && none.std == nil && none.min == nil)
    }

    /// Quantiles from scipy 1.17.1 `scipy.stats.t.ppf` (and one CDF from `t.cdf`).
    @Test func studentTAgainstScipy() {
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 1), 12.706204736174694, 1e-9))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 2), 4.302652729749462, 1e-9))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 4.5), 2.6589123472044034, 1e-9))
        #expect(close(StudentT.quantile(0.975, degreesOfFreedom: 30), 2.0422724563012378, 1e-9))
        #expect(close(StudentT.quantile(0.995, degreesOfFreedom: 1000), 2.580754698065951, 1e-9))
        #expect(close(StudentT.cdf(1.5, degreesOfFreedom: 3.7), 0.8932009153989933, 1e-10))
        #expect(StudentT.quantile(0.5, degreesOfFreedom: 3) == 0)
        #expect(close(StudentT.quantile(0.025, degreesOfFreedom: 2), -4.302652729749462, 1e-9))
    }

    /// Expected numbers: scipy 1.17.1, `ttest_ind(a, b, equal_var=False).confidence_interval(0.95)`.
    @Test func welchIntervalAgainstScipy() {
        let arm = [0.9861, 0.9889, 0.9944], control = [0.97, 0.965, 0.972, 0.968]
        let better = WelchComparison(metric: "final_validation_accuracy", arm: arm, control: control, higherIsBetter: true)
        #expect(close(better.difference, 0.021050000000000124, 1e-12))
        #expect(close(better.degreesOfFreedom, 3.4573845868971813, 1e-9))
        #expect(close(better.ciLow, 0.012596553163254016, 1e-8))
        #expect(close(better.ciHigh, 0.02950344683674623, 1e-8))
        #expect(better.verdict == .better && better.reason == nil)
        // The same numbers as losses (lower is better): worse.
        #expect(WelchComparison(metric: "loss", arm: arm, control: control, higherIsBetter: false).verdict == .worse)
        // An interval containing 0 (scipy: −2.370636474238503 … 1.6206364742385027, df 3.990093635500068).
        let overlap = WelchComparison(metric: "m", arm: [1, 2, 3], control: [1.5, 2.5, 3.5, 2], higherIsBetter: true)
        #expect(close(overlap.ciLow, -2.370636474238503, 1e-8) && close(overlap.ciHigh, 1.6206364742385027, 1e-8))
        #expect(close(overlap.degreesOfFreedom, 3.990093635500068, 1e-9))
        #expect(overlap.verdict == .notDistinguishable && overlap.reason == "the interval contains 0")
    }

    @Test func welchEdgeCases() {
        // n = 1 on a side: no interval, the reason says why; the difference is still reported.
        let single = WelchComparison(metric: "m", arm: [0.99], control: [0.9, 0.91], higherIsBetter: true)
        #expect(single.verdict == .notDistinguishable && single.ciLow == nil && close(single.difference, 0.085))
        #expect(single.reason?.contains("at least 2") == true)
        #expect(WelchComparison(metric: "m", arm: [], control: [1, 2], higherIsBetter: true).difference == nil)
        // Identical values everywhere: no spread, no difference.
        let same = WelchComparison(metric: "m", arm: [0.5, 0.5], control: [0.5, 0.5, 0.5], higherIsBetter: true)
        #expect(same.verdict == .notDistinguishable && same.difference == 0 && same.reason == "every run of both sides has the same value")
        // No spread but a difference: exact.
        let exact = WelchComparison(metric: "m", arm: [0.6, 0.6], control: [0.5, 0.5], higherIsBetter: true)
        #expect(exact.verdict == .better && exact.ciLow == exact.ciHigh)
    }
}
