import EsperJSON
import EsperStorage

/// The compiler's write-ahead record (06 §10): written before the first attempt of a compile,
/// rewritten per attempt, deleted on success, kept after a final failure. One file per worker
/// slot, so concurrent compiles never clobber each other's record. The forge reads leftovers
/// at start-up and recompiles their blueprints (which covers request-pipeline jobs too).
struct CompilerWALRecord: Codable, Equatable {
    var version = 1
    var jobId: String
    var blueprintId: String
    var parameters: [String: Double]
    var paramsSha256: String
    var attempt: Int
    var startedNs: Int64
    var origin: String
    var trainingRunId: String?

    enum CodingKeys: String, CodingKey {
        case version, jobId, blueprintId, parameters, paramsSha256, attempt, startedNs, origin, trainingRunId
    }

    init(
        jobId: String, blueprintId: String, parameters: [String: Double], paramsSha256: String, attempt: Int,
        startedNs: Int64, origin: String, trainingRunId: String?
    ) {
        self.jobId = jobId
        self.blueprintId = blueprintId
        self.parameters = parameters
        self.paramsSha256 = paramsSha256
        self.attempt = attempt
        self.startedNs = startedNs
        self.origin = origin
        self.trainingRunId = trainingRunId
    }

    /// Readers ignore unknown keys and accept the reference record `{blueprint_id, parameters}`.
    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        jobId = try c.decodeIfPresent(String.self, forKey: .jobId) ?? ""
        blueprintId = try c.decode(String.self, forKey: .blueprintId)
        parameters = try c.decodeIfPresent([String: Double].self, forKey: .parameters) ?? [:]
        paramsSha256 = try c.decodeIfPresent(String.self, forKey: .paramsSha256) ?? ""
        attempt = try c.decodeIfPresent(Int.self, forKey: .attempt) ?? 0
        startedNs = try c.decodeIfPresent(Int64.self, forKey: .startedNs) ?? 0
        origin = try c.decodeIfPresent(String.self, forKey: .origin) ?? "forge"
        trainingRunId = try c.decodeIfPresent(String.self, forKey: .trainingRunId)
    }

    func write(to path: String) throws {
        try AtomicFile.write(try JanssonEncoder().encode(self), to: path)
    }

    /// nil when the file is absent; throws when it exists but is unreadable.
    static func read(_ path: String) throws -> CompilerWALRecord? {
        guard let bytes = try AtomicFile.read(path) else { return nil }
        return try JanssonDecoder().decode(CompilerWALRecord.self, from: bytes)
    }
}
