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
    public init(name: String, kind: StudyGroupKind, arm: String?, metric: CurveMetric, histories: [[EpochSummary]]) {
        self.name = name
        self.kind = kind
        self.arm = arm
        runs = histories.count
        var byEpoch: [Int: [Double]] = [:]
        for history in histories {
            for summary in history { byEpoch[summary.epoch, default: []].append(metric.value(summary)) }
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
