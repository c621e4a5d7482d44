/// The streams Oona knows. The four bus streams carry Leyline messages between subsystems;
/// the job streams carry work that workers pick up through consumer groups (training runs,
/// compile jobs, policy training — later issues fill them).
public enum OonaStream: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case normal
    case emergency
    case telemetry
    case policy
    case jobsTraining = "jobs.training"
    case jobsCompile = "jobs.compile"
    case jobsPolicy = "jobs.policy"
    /// What workers report back about their jobs (run started, epoch, event, finished); the
    /// server applies these records to its run registry.
    case jobsRecords = "jobs.records"

    /// The four streams of the message bus.
    public static let bus: [OonaStream] = [.normal, .emergency, .telemetry, .policy]
    public static let jobs: [OonaStream] = [.jobsTraining, .jobsCompile, .jobsPolicy]

    /// Prometheus label and API name.
    public var label: String { rawValue }
    public var description: String { rawValue }

    /// Job streams and the job-record stream carry `BUS_MESSAGE_TYPE_UNSPECIFIED` messages
    /// (a JSON object of their own) besides Leyline messages.
    public var isJobQueue: Bool { OonaStream.jobs.contains(self) || self == .jobsRecords }

    /// Entries of work streams live as long as their job: the TTL sweep leaves them alone.
    public var isWorkQueue: Bool { OonaStream.jobs.contains(self) }
}

/// Stream names as configured (`OONA_*_STREAM`; the job stream names are fixed).
public struct OonaStreamNames: Sendable, Equatable {
    public var normal = "oona.normal"
    public var emergency = "oona.emergency"
    public var telemetry = "oona.telemetry"
    public var policy = "oona.policy"

    public init() {}

    public init(normal: String, emergency: String, telemetry: String, policy: String) {
        self.normal = normal
        self.emergency = emergency
        self.telemetry = telemetry
        self.policy = policy
    }

    public func name(of stream: OonaStream) -> String {
        switch stream {
        case .normal: normal
        case .emergency: emergency
        case .telemetry: telemetry
        case .policy: policy
        case .jobsTraining, .jobsCompile, .jobsPolicy, .jobsRecords: stream.rawValue
        }
    }
}

/// Redis keys of the streams. Every key is `esper:{bus}:<name>`: the `{bus}` hash tag puts all
/// of them (and their dead-letter streams, `<key>.dlq`) in one Redis Cluster hash slot, so a
/// cluster-aware client could later run the multi-key commands (XREADGROUP over several
/// streams) unchanged. hiredis itself does not follow cluster redirects.
public struct OonaStreamKeys: Sendable, Equatable {
    public static let prefix = "esper:{bus}:"
    public static let deadLetterSuffix = ".dlq"

    public let names: OonaStreamNames

    public init(names: OonaStreamNames) { self.names = names }

    public func key(_ stream: OonaStream) -> String { OonaStreamKeys.prefix + names.name(of: stream) }

    public func deadLetterKey(_ stream: OonaStream) -> String { key(stream) + OonaStreamKeys.deadLetterSuffix }

    /// Any other key of the bus (job leases, run controls, the worker registry): the same
    /// `esper:{bus}:` prefix, so it shares the streams' cluster slot and scripts may touch
    /// it together with a stream.
    public func auxiliaryKey(_ name: String) -> String { OonaStreamKeys.prefix + name }
}
