// What one run of a study contributes to its group's statistics, read from the run's own records.
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
        hiddenSizes = FinalArchitecture.hiddenSizes(configured: record.config.model.hiddenSizes, latest: last)
        parameters = hostParameters(hiddenSizes).map { $0 + (last?.slots.reduce(0) { $0 + $1.parameters } ?? 0) }
        wallTimeSeconds = record.timings.elapsedMs.map { $0 / 1000 }
        germinations = seedStages.count
        fossilisations = seedStages.filter { $0 == "SEED_STAGE_FOSSILIZED" }.count
        culls = seedStages.filter { $0 == "SEED_STAGE_CULLING" || $0 == "SEED_STAGE_CANCELLED" }.count
        error = record.error
    }
}
