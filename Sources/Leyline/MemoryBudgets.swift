public import EsperJSON

/// Shares of device memory per use (fractions of 1). The design requires the shares to sum
/// to at most 1.0, yet its table sums to 1.05: the two pruning shares
/// (`importance_statistics` 0.03, `pruning_metadata` 0.02) were added later without
/// rebalancing. Decision: `checkpoints_percent` shrinks from 0.08 to 0.03. Checkpoints are
/// written to disk (atomic files in the data directory), so their in-memory share is only a
/// staging buffer, while every other share sizes live state. The table now sums to exactly
/// 1.00, and `checkSum()` runs at server start so a future edit cannot break the rule.
public struct MemoryBudgets: Sendable, Equatable, Codable {
    public let modelPercent: Double
    public let optimizerPercent: Double
    public let gradientsPercent: Double
    public let checkpointsPercent: Double
    public let telemetryPercent: Double
    public let morphogeneticPercent: Double
    public let emergencyPercent: Double
    public let importanceStatisticsPercent: Double
    public let pruningMetadataPercent: Double

    public init(
        modelPercent: Double, optimizerPercent: Double, gradientsPercent: Double, checkpointsPercent: Double,
        telemetryPercent: Double, morphogeneticPercent: Double, emergencyPercent: Double,
        importanceStatisticsPercent: Double, pruningMetadataPercent: Double
    ) {
        self.modelPercent = modelPercent
        self.optimizerPercent = optimizerPercent
        self.gradientsPercent = gradientsPercent
        self.checkpointsPercent = checkpointsPercent
        self.telemetryPercent = telemetryPercent
        self.morphogeneticPercent = morphogeneticPercent
        self.emergencyPercent = emergencyPercent
        self.importanceStatisticsPercent = importanceStatisticsPercent
        self.pruningMetadataPercent = pruningMetadataPercent
    }

    public static let standard = MemoryBudgets(
        modelPercent: 0.40, optimizerPercent: 0.25, gradientsPercent: 0.15, checkpointsPercent: 0.03,
        telemetryPercent: 0.05, morphogeneticPercent: 0.05, emergencyPercent: 0.02,
        importanceStatisticsPercent: 0.03, pruningMetadataPercent: 0.02)

    /// Every share with its field name.
    public var shares: [(field: String, value: Double)] {
        [
            ("model_percent", modelPercent), ("optimizer_percent", optimizerPercent), ("gradients_percent", gradientsPercent),
            ("checkpoints_percent", checkpointsPercent), ("telemetry_percent", telemetryPercent),
            ("morphogenetic_percent", morphogeneticPercent), ("emergency_percent", emergencyPercent),
            ("importance_statistics_percent", importanceStatisticsPercent), ("pruning_metadata_percent", pruningMetadataPercent),
        ]
    }

    public var total: Double { shares.reduce(0) { $0 + $1.value } }

    /// Why this table cannot be used: a share outside 0...1, or a sum above 1.0 (with a
    /// tolerance for decimal fractions that binary floating point cannot hold exactly).
    public var problems: [JSONFieldProblem] {
        var problems: [JSONFieldProblem] = []
        for (field, value) in shares where !(value.isFinite && value >= 0 && value <= 1) {
            problems.append(JSONFieldProblem(field: field, message: "\(value) is outside 0...1"))
        }
        let sum = total
        if sum > 1.0 + 1e-9 {
            let listed = shares.map { "\($0.field)=\($0.value)" }.joined(separator: ", ")
            problems.append(
                JSONFieldProblem(field: "", message: "memory shares sum to \((sum * 1e6).rounded() / 1e6), more than 1.0 (\(listed))"))
        }
        return problems
    }

    public struct SumError: Error, CustomStringConvertible {
        public let problems: [JSONFieldProblem]
        public var description: String {
            "invalid memory budgets: "
                + problems.map { $0.field.isEmpty ? $0.message : "\($0.field): \($0.message)" }.joined(separator: "; ")
        }
    }

    /// Throws when the table breaks the rule (the server refuses to start).
    public func checkSum() throws(SumError) {
        let problems = self.problems
        if !problems.isEmpty { throw SumError(problems: problems) }
    }
}
