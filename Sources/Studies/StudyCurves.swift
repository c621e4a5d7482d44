// GET /api/v1/studies/{id}/curves: per-epoch mean, std and n of one metric per group, aligned by epoch.
public import Tolaria

/// The per-epoch metrics a study can plot.
public enum CurveMetric: String, Sendable, Codable, CaseIterable {
    case validationAccuracy = "validation_accuracy"
    case validationLoss = "validation_loss"
    case trainLoss = "train_loss"
    case trainAccuracy = "train_accuracy"

    public func value(_ summary: EpochSummary) -> Double {
        switch self {
        case .validationAccuracy: summary.validationAccuracy
        case .validationLoss: summary.validationLoss
        case .trainLoss: summary.trainLoss
        case .trainAccuracy: summary.trainAccuracy
        }
    }
}

/// One epoch of a run reduced to what curves plot: what a study keeps of a finished run's
/// history (a few numbers an epoch instead of the whole summary).
public struct CurveSample: Sendable, Equatable {
    public var epoch: Int
    var values: (validationAccuracy: Double, validationLoss: Double, trainLoss: Double, trainAccuracy: Double)

    public init(_ summary: EpochSummary) {
        epoch = summary.epoch
        values = (summary.validationAccuracy, summary.validationLoss, summary.trainLoss, summary.trainAccuracy)
    }

    public func value(_ metric: CurveMetric) -> Double {
        switch metric {
        case .validationAccuracy: values.validationAccuracy
        case .validationLoss: values.validationLoss
        case .trainLoss: values.trainLoss
        case .trainAccuracy: values.trainAccuracy
        }
    }

    public static func == (a: CurveSample, b: CurveSample) -> Bool { a.epoch == b.epoch && a.values == b.values }
}

/// One epoch of a group's curve: the spread over the runs that reached it.
public struct CurvePoint: Sendable, Codable, Equatable {
    public var epoch: Int
    public var n: Int
    public var mean: Double
    /// Sample std (n − 1); absent when n = 1.
    public var std: Double?
}

public struct GroupCurve: Sendable, Codable, Equatable {
    public var name: String
    public var kind: StudyGroupKind
    public var arm: String?
    /// Runs contributing (failed and cancelled runs do not).
    public var runs: Int
    public var points: [CurvePoint]

    /// Aligns the runs' histories by epoch number (a run that has not reached an epoch, or was
    /// rolled back past it, does not count there).
    public init(name: String, kind: StudyGroupKind, arm: String?, metric: CurveMetric, histories: [[CurveSample]]) {
        self.name = name
        self.kind = kind
        self.arm = arm
        runs = histories.count
        var byEpoch: [Int: [Double]] = [:]
        for history in histories {
            for sample in history { byEpoch[sample.epoch, default: []].append(sample.value(metric)) }
        }
        points = byEpoch.keys.sorted().map { epoch in
            let stats = SampleStatistics(byEpoch[epoch] ?? [])
            return CurvePoint(epoch: epoch, n: stats.n, mean: stats.mean ?? 0, std: stats.std)
        }
    }
}

public struct StudyCurves: Sendable, Codable, Equatable {
    public var studyId: String
    public var metric: CurveMetric
    public var groups: [GroupCurve]
}
