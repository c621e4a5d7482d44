/// Training state once per epoch (Tolaria → everyone). Field numbers 100-199 are reserved
/// in the proto; the JSON form has every field below.
public struct SystemStatePacket: LeylineMessage {
    public var version: UInt32
    public var currentEpoch: UInt32
    /// 0 ... 1.
    public var validationAccuracy: Float
    public var validationLoss: Float
    /// Wall clock, nanoseconds since the epoch.
    public var timestampNs: UInt64
    public var hardwareContext: HardwareContext
    /// e.g. `loss`, `grad_norm`, `samples_per_s`.
    public var trainingMetrics: [String: Float]
    public var seedStates: [SeedState]
    public var packetId: String
    public var globalStep: UInt64
    public var trainingLoss: Float
    /// `"tolaria"`.
    public var sourceSubsystem: String
    public var trainingRunId: String
    public var experimentName: String

    public init(
        version: UInt32 = LeylineVersion.current, currentEpoch: UInt32 = 0, validationAccuracy: Float = 0,
        validationLoss: Float = 0, timestampNs: UInt64 = 0, hardwareContext: HardwareContext = HardwareContext(),
        trainingMetrics: [String: Float] = [:], seedStates: [SeedState] = [], packetId: String = "",
        globalStep: UInt64 = 0, trainingLoss: Float = 0, sourceSubsystem: String = "", trainingRunId: String = "",
        experimentName: String = ""
    ) {
        self.version = version
        self.currentEpoch = currentEpoch
        self.validationAccuracy = validationAccuracy
        self.validationLoss = validationLoss
        self.timestampNs = timestampNs
        self.hardwareContext = hardwareContext
        self.trainingMetrics = trainingMetrics
        self.seedStates = seedStates
        self.packetId = packetId
        self.globalStep = globalStep
        self.trainingLoss = trainingLoss
        self.sourceSubsystem = sourceSubsystem
        self.trainingRunId = trainingRunId
        self.experimentName = experimentName
    }

    public static let fields = LeylineFields(
        SystemStatePacket(version: 0),
        [
            .field("version", \.version, .version),
            .field("current_epoch", \.currentEpoch),
            .field("validation_accuracy", \.validationAccuracy, .finite(in: 0...1)),
            .field("validation_loss", \.validationLoss, .finite),
            .field("timestamp_ns", \.timestampNs),
            .field("hardware_context", \.hardwareContext),
            .field("training_metrics", \.trainingMetrics),
            .field(
                "seed_states", \.seedStates,
                .that { seeds, field, v in
                    let limit = SystemLimits.standard.maxSeedsPerEpoch
                    if seeds.count > limit { v.fail(field, "has \(seeds.count) seeds; at most \(limit) allowed") }
                }),
            .field("packet_id", \.packetId, .identifier),
            .field("global_step", \.globalStep),
            .field("training_loss", \.trainingLoss, .finite),
            .field("source_subsystem", \.sourceSubsystem, .optionalIdentifier),
            .field("training_run_id", \.trainingRunId, .optionalIdentifier),
            .field("experiment_name", \.experimentName, .optionalIdentifier),
        ])
}
