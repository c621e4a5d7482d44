// The durable record of studies (<data>/studies/studies.db): the request, its state, and which run is which.
public import EsperJSON
public import EsperStorage
import Foundation

/// What the user asked a study to do: run (`active`), hold its unfinished runs (`paused`),
/// or end them (`stopped`). Whether it has completed follows from its runs.
public enum StudyState: String, Sendable, Codable {
    case active, paused, stopped
}

/// One study as stored.
public struct StoredStudy: Sendable, Equatable {
    public var seq: Int64
    public var id: String
    public var name: String
    public var request: StudyRequest
    public var state: StudyState
    public var createdNs: Int64
}

/// A run of a study: which group and seed, the run once created, or why it could not be.
public struct StudyMember: Sendable, Equatable {
    public var group: String
    public var kind: StudyGroupKind
    public var arm: String?
    public var seed: UInt64
    /// Created run (nil while a static_final waits for its grown run, or before submission).
    public var runId: String?
    public var config: JSONValue?
    /// Why no run exists (the grown run failed, the config was refused at submission).
    public var error: String?
}

public final class StudyStore: Sendable {
    let database: SQLiteDatabase

    public init(path: String) throws(StorageError) {
        database = try SQLiteDatabase(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS studies (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                request TEXT NOT NULL,
                state TEXT NOT NULL,
                idempotency_key TEXT UNIQUE,
                created_ns INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS study_runs (
                study_id TEXT NOT NULL,
                position INTEGER NOT NULL,
                grp TEXT NOT NULL,
                kind TEXT NOT NULL,
                arm TEXT,
                seed INTEGER NOT NULL,
                run_id TEXT,
                config TEXT,
                error TEXT,
                PRIMARY KEY (study_id, grp, seed)
            );
            CREATE INDEX IF NOT EXISTS study_runs_run ON study_runs(run_id);
            """)
    }

    static func text(_ value: JSONValue) -> String { String(decoding: (try? value.serialized()) ?? Array("null".utf8), as: UTF8.self) }

    /// Records a study and its planned runs; false when the idempotency key is taken.
    func create(id: String, request: StudyRequest, plan: [PlannedRun], idempotencyKey: String?) throws -> Bool {
        let requestText = String(decoding: try JanssonEncoder().encode(request), as: UTF8.self)
        do {
            try database.transaction { tx in
                try tx.query(
                    "INSERT INTO studies (id, name, request, state, idempotency_key, created_ns) VALUES (?, ?, ?, 'active', ?, ?)",
                    [
                        .text(id), .text(request.name), .text(requestText), idempotencyKey.map { .text($0) } ?? .null,
                        .integer(Int64(Date().timeIntervalSince1970 * 1e9)),
                    ])
                for (position, run) in plan.enumerated() {
                    try tx.query(
                        "INSERT INTO study_runs (study_id, position, grp, kind, arm, seed, config) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            .text(id), .integer(Int64(position)), .text(run.group), .text(run.kind.rawValue),
                            run.arm.map { .text($0) } ?? .null, .integer(Int64(bitPattern: run.seed)),
                            run.config.map { .text(StudyStore.text($0)) } ?? .null,
                        ])
                }
            }
            return true
        } catch let error as StorageError where idempotencyKey != nil && error.reason.contains("UNIQUE") {
            return false
        }
    }

    func id(forIdempotencyKey key: String) throws -> String? {
        try database.query("SELECT id FROM studies WHERE idempotency_key = ?", [.text(key)]).first?["id"].string
    }

    public func study(_ id: String) throws -> StoredStudy? {
        try database.query("SELECT * FROM studies WHERE id = ?", [.text(id)]).first.flatMap(StudyStore.study)
    }

    /// Newest first; `before` is a `seq` from a cursor.
    func list(before: Int64?, limit: Int) throws -> (studies: [StoredStudy], more: Bool) {
        var sql = "SELECT * FROM studies"
        var parameters: [SQLiteValue] = []
        if let before {
            sql += " WHERE seq < ?"
            parameters.append(.integer(before))
        }
        sql += " ORDER BY seq DESC LIMIT ?"
        parameters.append(.integer(Int64(limit + 1)))
        let rows = try database.query(sql, parameters)
        return (rows.prefix(limit).compactMap(StudyStore.study), rows.count > limit)
    }

    func ids(inState state: StudyState) throws -> [String] {
        try database.query("SELECT id FROM studies WHERE state = ? ORDER BY seq", [.text(state.rawValue)]).compactMap { $0["id"].string }
    }

    func setState(_ id: String, _ state: StudyState) throws {
        try database.query("UPDATE studies SET state = ? WHERE id = ?", [.text(state.rawValue), .text(id)])
    }

    public func members(_ studyId: String) throws -> [StudyMember] {
        try database.query("SELECT * FROM study_runs WHERE study_id = ? ORDER BY position", [.text(studyId)]).compactMap { row in
            guard let group = row["grp"].string, let kind = row["kind"].string.flatMap(StudyGroupKind.init(rawValue:)),
                let seed = row["seed"].int
            else { return nil }
            return StudyMember(
                group: group, kind: kind, arm: row["arm"].string, seed: UInt64(bitPattern: seed), runId: row["run_id"].string,
                config: row["config"].string.flatMap { try? JSONValue.parse($0) }, error: row["error"].string)
        }
    }

    /// A run was created for a member (its config as submitted).
    func attach(studyId: String, group: String, seed: UInt64, runId: String, config: JSONValue) throws {
        try database.query(
            "UPDATE study_runs SET run_id = ?, config = ?, error = NULL WHERE study_id = ? AND grp = ? AND seed = ?",
            [.text(runId), .text(StudyStore.text(config)), .text(studyId), .text(group), .integer(Int64(bitPattern: seed))])
    }

    /// No run can be created for a member; the reason is reported with the study.
    func fail(studyId: String, group: String, seed: UInt64, error: String) throws {
        try database.query(
            "UPDATE study_runs SET error = ? WHERE study_id = ? AND grp = ? AND seed = ?",
            [.text(error), .text(studyId), .text(group), .integer(Int64(bitPattern: seed))])
    }

    func delete(_ id: String) throws {
        try database.transaction { tx in
            try tx.query("DELETE FROM study_runs WHERE study_id = ?", [.text(id)])
            try tx.query("DELETE FROM studies WHERE id = ?", [.text(id)])
        }
    }

    static func study(_ row: SQLiteRow) -> StoredStudy? {
        guard let id = row["id"].string, let text = row["request"].string,
            let request = try? JanssonDecoder().decode(StudyRequest.self, from: Array(text.utf8)),
            let state = row["state"].string.flatMap(StudyState.init(rawValue:))
        else { return nil }
        return StoredStudy(
            seq: row["seq"].int ?? 0, id: id, name: row["name"].string ?? request.name, request: request, state: state,
            createdNs: row["created_ns"].int ?? 0)
    }
}
