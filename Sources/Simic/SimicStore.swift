import EsperJSON
public import EsperStorage
import Foundation

/// A training job as `GET /api/v1/simic/jobs/{id}` shows it; its state lives in SQLite
/// (`<data>/simic/simic.db`) so a worker process can take it over later.
public struct SimicJob: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable, Equatable {
        case queued, running
        /// Trained, validated and (when asked) published.
        case succeeded
        /// Trained, but the policy failed validation: not published.
        case rejected
        /// Could not run (an error, or interrupted by a restart).
        case failed
    }

    public var id: String
    public var state: State
    public var settings: SimicTrainingSettings
    public var createdAt: String
    public var startedAt: String?
    public var finishedAt: String?
    public var result: SimicJobResult?
    public var error: String?

    public init(id: String, state: State = .queued, settings: SimicTrainingSettings, createdAt: String) {
        self.id = id
        self.state = state
        self.settings = settings
        self.createdAt = createdAt
    }
}

/// What a finished job did.
public struct SimicJobResult: Sendable, Codable, Equatable {
    public var trainingReports: Int
    public var holdoutReports: Int
    public var trainingSteps: Int
    /// The policy training started from (Tamiyo's current one).
    public var initialPolicyVersion: String
    public var updates: [PPOUpdateMetrics]
    public var validation: ValidationResult
    /// Set when the policy was stored (and announced) as this version.
    public var policyVersion: String?
    public var published: Bool
    public var announced: Bool
    public var announceError: String?
    public var weightsSha256: String
}

/// A stored, validated policy (`GET /api/v1/simic/policies`).
public struct PolicyRecord: Sendable, Codable, Equatable {
    public var version: String
    public var policyId: String
    public var jobId: String
    public var createdAt: String
    public var sha256: String
    public var parameters: Int
    public var path: String
    public var announced: Bool
    public var validation: ValidationResult
    /// Set when listed: `ok`, `missing`, or `corrupt: <reason>` — the file verified as read
    /// (checksum trailer and the weights' SHA-256 against `sha256`).
    public var fileStatus: String? = nil
}

/// Jobs and policies in one SQLite file.
public final class SimicStore: Sendable {
    let db: SQLiteDatabase

    public init(path: String) throws(StorageError) {
        db = try SQLiteDatabase(path: path)
        try db.execute(
            """
            CREATE TABLE IF NOT EXISTS jobs (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, state TEXT NOT NULL,
                document TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS policies (seq INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT UNIQUE NOT NULL,
                document TEXT NOT NULL);
            """)
    }

    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JanssonEncoder().encode(value), as: UTF8.self)
    }

    public func save(_ job: SimicJob) throws {
        _ = try db.query(
            "INSERT INTO jobs (id, state, document) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET state = excluded.state, document = excluded.document",
            [.text(job.id), .text(job.state.rawValue), .text(try SimicStore.encode(job))])
    }

    public func job(_ id: String) throws -> SimicJob? {
        guard let row = try db.query("SELECT document FROM jobs WHERE id = ?", [.text(id)]).first, let text = row["document"].string
        else { return nil }
        return try JanssonDecoder().decode(SimicJob.self, from: Array(text.utf8))
    }

    public func jobs(in states: [SimicJob.State]) throws -> [SimicJob] {
        let marks = states.map { _ in "?" }.joined(separator: ",")
        return try db.query("SELECT document FROM jobs WHERE state IN (\(marks)) ORDER BY seq", states.map { .text($0.rawValue) })
            .compactMap { $0["document"].string }.map { try JanssonDecoder().decode(SimicJob.self, from: Array($0.utf8)) }
    }

    /// The next policy number (1, 2, …).
    public func nextPolicyNumber() throws -> Int {
        Int(try db.query("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM policies").first?["n"].int ?? 1)
    }

    public func save(_ policy: PolicyRecord) throws {
        _ = try db.query(
            "INSERT INTO policies (version, document) VALUES (?, ?) ON CONFLICT(version) DO UPDATE SET document = excluded.document",
            [.text(policy.version), .text(try SimicStore.encode(policy))])
    }

    /// Policies oldest first after position `after`, at most `limit`; the position to continue
    /// from when more remain.
    public func policies(after: Int64, limit: Int) throws -> (items: [PolicyRecord], next: Int64?) {
        let rows = try db.query(
            "SELECT seq, document FROM policies WHERE seq > ? ORDER BY seq LIMIT ?", [.integer(after), .integer(Int64(limit + 1))])
        let page = rows.prefix(limit)
        let items = try page.compactMap { $0["document"].string }.map {
            try JanssonDecoder().decode(PolicyRecord.self, from: Array($0.utf8))
        }
        return (items, rows.count > limit ? page.last?["seq"].int : nil)
    }
}
