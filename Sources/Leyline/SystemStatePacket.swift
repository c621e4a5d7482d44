/// Training state once per epoch (Tolaria → everyone). Field numbers 100-199 are reserved
/// in the proto; the JSON form has every field below.
public struct SystemStatePacket: Sendable, Equatable, Codable, LeylineValidatable {
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

    enum CodingKeys: String, CodingKey {
        case version, currentEpoch = "current_epoch", validationAccuracy = "validation_accuracy"
        case validationLoss = "validation_loss", timestampNs = "timestamp_ns", hardwareContext = "hardware_context"
        case trainingMetrics = "training_metrics", seedStates = "seed_states", packetId = "packet_id"
        case globalStep = "global_step", trainingLoss = "training_loss", sourceSubsystem = "source_subsystem"
        case trainingRunId = "training_run_id", experimentName = "experiment_name"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.field(.version, or: 0)
        currentEpoch = try c.field(.currentEpoch, or: 0)
        validationAccuracy = try c.field(.validationAccuracy, or: 0)
        validationLoss = try c.field(.validationLoss, or: 0)
        timestampNs = try c.field(.timestampNs, or: 0)
        hardwareContext = try c.field(.hardwareContext, or: HardwareContext())
        trainingMetrics = try c.field(.trainingMetrics, or: [:])
        seedStates = try c.field(.seedStates, or: [])
        packetId = try c.field(.packetId, or: "")
        globalStep = try c.field(.globalStep, or: 0)
        trainingLoss = try c.field(.trainingLoss, or: 0)
        sourceSubsystem = try c.field(.sourceSubsystem, or: "")
        trainingRunId = try c.field(.trainingRunId, or: "")
        experimentName = try c.field(.experimentName, or: "")
    }

    public func validate(_ v: inout LeylineValidator) {
        v.version(version)
        v.finite("validation_accuracy", validationAccuracy, in: 0...1)
        v.finite("validation_loss", validationLoss)
        v.nested("hardware_context", hardwareContext)
        v.metrics("training_metrics", trainingMetrics)
        if seedStates.count > SystemLimits.standard.maxSeedsPerEpoch {
            v.fail("seed_states", "has \(seedStates.count) seeds; at most \(SystemLimits.standard.maxSeedsPerEpoch) allowed")
        }
        v.each("seed_states", seedStates)
        v.identifier("packet_id", packetId)
        v.finite("training_loss", trainingLoss)
        v.optionalIdentifier("source_subsystem", sourceSubsystem)
        v.optionalIdentifier("training_run_id", trainingRunId)
        v.optionalIdentifier("experiment_name", experimentName)
    }
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension SystemStatePacket: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable([
        "current_epoch", "experiment_name", "global_step", "hardware_context", "packet_id", "seed_states", "source_subsystem",
        "timestamp_ns", "training_loss", "training_metrics", "training_run_id", "validation_accuracy", "validation_loss", "version",
    ])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("current_epoch"); w.unsigned(currentEpoch)
        w.key("experiment_name"); w.string(experimentName)
        w.key("global_step"); w.unsigned(globalStep)
        w.key("hardware_context"); hardwareContext.write(to: &w)
        w.key("packet_id"); w.string(packetId)
        w.key("seed_states"); w.array(seedStates)
        w.key("source_subsystem"); w.string(sourceSubsystem)
        w.key("timestamp_ns"); w.unsigned(timestampNs)
        w.key("training_loss"); w.float(trainingLoss)
        w.key("training_metrics"); w.floatMap(trainingMetrics)
        w.key("training_run_id"); w.string(trainingRunId)
        w.key("validation_accuracy"); w.float(validationAccuracy)
        w.key("validation_loss"); w.float(validationLoss)
        w.key("version"); w.unsigned(version)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        version = 0  // absent means 0 (proto3), which validation then refuses
        var cursor = try r.beginObject()
        while let field = try r.nextField(SystemStatePacket.jsonFields, &cursor) {
            switch field {
            case 0: currentEpoch = try r.uint32()
            case 1: experimentName = try r.string()
            case 2: globalStep = try r.uint64()
            case 3: hardwareContext = try HardwareContext(reading: &r)
            case 4: packetId = try r.string()
            case 5: seedStates = try r.array(of: SeedState.self)
            case 6: sourceSubsystem = try r.string()
            case 7: timestampNs = try r.uint64()
            case 8: trainingLoss = try r.float()
            case 9: trainingMetrics = try r.floatMap()
            case 10: trainingRunId = try r.string()
            case 11: validationAccuracy = try r.float()
            case 12: validationLoss = try r.float()
            case 13: version = try r.uint32()
            default: break
            }
        }
    }
}
