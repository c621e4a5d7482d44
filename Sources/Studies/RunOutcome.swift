// What one run of a study contributes to its group's statistics, read from the run's own records.
import Leyline
public import Runs
public import Tolaria

/// The numbers a study aggregates for one run: read from its epoch history, its record and
/// its seeds (stages as Leyline names), never from anything the study computed itself.
public struct RunOutcome: Sendable, Codable, Equatable {
    public var runId: String
    public var seed: UInt64
    public var status: RunStatus
    public var epochs: Int
    public var finalValidationAccuracy: Double?
    public var bestValidationAccuracy: Double?
    public var finalValidationLoss: Double?
    public var bestValidationLoss: Double?
    /// Accuracy on a fixed held-out test split (epochs whose `held_out_split` is `test`): at
    /// the last epoch and the best epoch; nil when the run evaluates on a random validation
    /// fraction (its validation figures are then not test figures).
    public var finalTestAccuracy: Double?
    public var bestTestAccuracy: Double?
    /// Training FLOPs of the whole run as Tolaria counted them at its last epoch (nil in runs
    /// recorded before Tolaria counted them).
    public var trainingFlops: Double?
    /// Host parameters at the end (final widths) plus what fossilised slot modules add.
    public var parameters: Int?
    public var hiddenSizes: [Int]
    public var wallTimeSeconds: Double?
    public var germinations: Int
    public var fossilisations: Int
    public var culls: Int
    public var error: String?

    /// `hostParameters` counts the host's parameters for given hidden widths (nil when the
    /// data set's shape is unknown).
    public init(
        record: RunRecord, seed: UInt64, epochs history: [EpochSummary], seedStages: [String],
        hostParameters: ([Int]) -> Int?
    ) {
        runId = record.id
        self.seed = seed
        status = record.status
        epochs = history.count
        let last = history.last
        finalValidationAccuracy = last?.validationAccuracy
        finalValidationLoss = last?.validationLoss
        bestValidationAccuracy = history.map(\.validationAccuracy).max()
        bestValidationLoss = history.map(\.validationLoss).min()
        finalTestAccuracy = last?.heldOutSplit == .test ? last?.validationAccuracy : nil
        bestTestAccuracy = history.filter { $0.heldOutSplit == .test }.map(\.validationAccuracy).max()
        trainingFlops = last?.totalTrainingFlops
        hiddenSizes = FinalArchitecture.hiddenSizes(configured: record.config.model.hiddenSizes, latest: last)
        parameters = hostParameters(hiddenSizes).map { $0 + (last?.slots.reduce(0) { $0 + $1.parameters } ?? 0) }
        wallTimeSeconds = record.timings.elapsedMs.map { $0 / 1000 }
        germinations = seedStages.count
        fossilisations = seedStages.filter { $0 == "SEED_STAGE_FOSSILIZED" }.count
        culls = seedStages.filter { $0 == "SEED_STAGE_CULLING" || $0 == "SEED_STAGE_CANCELLED" }.count
        error = record.error
    }

    /// Seed stages from the epoch summaries, for runs whose seed view this server does not
    /// hold (trained by an `esper worker` process): one stage per seed id — FOSSILIZED if it
    /// was ever seen fossilised, CULLING if ever seen culled, else its last stage. A seed
    /// that germinated and left its slot within one epoch is not seen at all.
    public static func seedStages(from history: [EpochSummary]) -> [String] {
        var order: [String] = []
        var stages: [String: SeedLifecycleStage] = [:]
        for summary in history {
            for seed in summary.seeds ?? [] {
                guard let previous = stages[seed.seedId] else {
                    order.append(seed.seedId)
                    stages[seed.seedId] = seed.stage
                    continue
                }
                if previous != .fossilized && previous != .culling {
                    stages[seed.seedId] = seed.stage == .cancelled ? .culling : seed.stage
                }
            }
        }
        return order.compactMap { stages[$0]?.name }
    }
}
