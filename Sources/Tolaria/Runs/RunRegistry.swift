import EsperJSON
public import EsperStorage
import Foundation

import enum Leyline.RFC3339

/// The durable list of runs (`<data>/tolaria/runs.db`): config, status, progress, per-epoch
/// summaries and events. It is what the API reads — handlers never touch a trainer — and
/// what the service reads at start-up to pick up runs a crash interrupted.
public final class RunRegistry: Sendable {
    let database: SQLiteDatabase

    public init(path: String) throws(StorageError) {
        database = try SQLiteDatabase(path: path)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS runs (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                name TEXT,
                status TEXT NOT NULL,
                config TEXT NOT NULL,
                idempotency_key TEXT UNIQUE,
                epoch INTEGER NOT NULL DEFAULT 0,
                epochs INTEGER NOT NULL,
                global_step INTEGER NOT NULL DEFAULT 0,
                latest TEXT,
                rollbacks INTEGER NOT NULL DEFAULT 0,
                restarts INTEGER NOT NULL DEFAULT 0,
                resumed_from_epoch INTEGER,
                error TEXT,
                created_ns INTEGER NOT NULL,
                started_ns INTEGER,
                finished_ns INTEGER
            );
            CREATE INDEX IF NOT EXISTS runs_status ON runs(status, seq);
            CREATE TABLE IF NOT EXISTS run_epochs (
                run_id TEXT NOT NULL,
                epoch INTEGER NOT NULL,
                summary TEXT NOT NULL,
                PRIMARY KEY (run_id, epoch)
            );
            CREATE TABLE IF NOT EXISTS run_events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                run_id TEXT NOT NULL,
                event TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS run_events_run ON run_events(run_id, seq);
            CREATE TABLE IF NOT EXISTS run_seeds (
                run_id TEXT PRIMARY KEY,
                view TEXT NOT NULL
            );
            """)
    }

    /// Stores the latest view of a run's seeds (Kasmina's JSON; opaque here), so the seeds
    /// endpoint still answers after a restart.
    public func saveSeedView(runId: String, json: String) throws {
        try database.query("INSERT OR REPLACE INTO run_seeds (run_id, view) VALUES (?, ?)", [.text(runId), .text(json)])
    }

    /// The stored view of a run's seeds, if any.
    public func seedView(runId: String) throws -> String? {
        try database.query("SELECT view FROM run_seeds WHERE run_id = ?", [.text(runId)]).first?["view"].string
    }

    static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JanssonEncoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String?) -> T? {
        guard let text else { return nil }
        return try? JanssonDecoder().decode(type, from: Array(text.utf8))
    }

    /// Inserts a queued run; returns false when the idempotency key is already taken.
    func create(id: String, config: RunConfig, idempotencyKey: String?) throws -> Bool {
        do {
            try database.query(
                """
                INSERT INTO runs (id, name, status, config, idempotency_key, epochs, created_ns)
                VALUES (?, ?, 'queued', ?, ?, ?, ?)
                """,
                [
                    .text(id), config.name.map { .text($0) } ?? .null, .text(try RunRegistry.text(config)),
                    idempotencyKey.map { .text($0) } ?? .null, .integer(Int64(config.epochs)), .integer(WallClock.nanoseconds()),
                ])
            return true
        } catch let error as StorageError where idempotencyKey != nil && error.reason.contains("UNIQUE") {
            return false
        }
    }

    func id(forIdempotencyKey key: String) throws -> String? {
        try database.query("SELECT id FROM runs WHERE idempotency_key = ?", [.text(key)]).first?["id"].string
    }

    func setStatus(_ id: String, _ status: RunStatus, error: String? = nil) throws {
        let now = WallClock.nanoseconds()
        switch status {
        case .running:
            try database.query(
                "UPDATE runs SET status = ?, started_ns = COALESCE(started_ns, ?) WHERE id = ?",
                [.text(status.rawValue), .integer(now), .text(id)])
        case .succeeded, .failed, .cancelled:
            try database.query(
                "UPDATE runs SET status = ?, finished_ns = ?, error = ? WHERE id = ?",
                [.text(status.rawValue), .integer(now), error.map { .text($0) } ?? .null, .text(id)])
        case .queued, .paused:
            try database.query("UPDATE runs SET status = ? WHERE id = ?", [.text(status.rawValue), .text(id)])
        }
    }

    func recordEpoch(_ summary: EpochSummary) throws {
        let text = try RunRegistry.text(summary)
        try database.transaction { tx in
            try tx.query(
                "INSERT OR REPLACE INTO run_epochs (run_id, epoch, summary) VALUES (?, ?, ?)",
                [.text(summary.runId), .integer(Int64(summary.epoch)), .text(text)])
            try tx.query(
                "UPDATE runs SET epoch = ?, global_step = ?, latest = ? WHERE id = ?",
                [.integer(Int64(summary.epoch + 1)), .integer(summary.globalStep), .text(text), .text(summary.runId)])
        }
    }

    func recordEvent(_ event: TrainingEvent) throws {
        let text = try RunRegistry.text(event)
        try database.transaction { tx in
            try tx.query("INSERT INTO run_events (run_id, event) VALUES (?, ?)", [.text(event.runId), .text(text)])
            if event.kind == .rollback {
                try tx.query("UPDATE runs SET rollbacks = rollbacks + 1 WHERE id = ?", [.text(event.runId)])
            }
        }
    }

    /// A restart resumed the run at `epoch` (epochs completed): later epochs will be trained
    /// again, so their rows go.
    func resumed(_ id: String, atEpoch epoch: Int) throws {
        try database.transaction { tx in
            try tx.query("DELETE FROM run_epochs WHERE run_id = ? AND epoch >= ?", [.text(id), .integer(Int64(epoch))])
            let latest =
                try tx.query(
                    "SELECT summary FROM run_epochs WHERE run_id = ? AND epoch = ?",
                    [.text(id), .integer(Int64(epoch - 1))]
                ).first?["summary"] ?? .null
            let step = RunRegistry.decode(EpochSummary.self, latest.string)?.globalStep ?? 0
            try tx.query(
                "UPDATE runs SET epoch = ?, latest = ?, global_step = ?, resumed_from_epoch = ? WHERE id = ?",
                [.integer(Int64(epoch)), latest, .integer(step), .integer(Int64(epoch)), .text(id)])
        }
    }

    func countRestart(_ id: String) throws {
        try database.query("UPDATE runs SET restarts = restarts + 1 WHERE id = ?", [.text(id)])
    }

    /// Just the status (cheap: no config or summary decoded).
    func status(_ id: String) throws -> RunStatus? {
        try database.query("SELECT status FROM runs WHERE id = ?", [.text(id)]).first?["status"].string.flatMap(RunStatus.init(rawValue:))
    }

    public func run(_ id: String) throws -> RunRecord? {
        try database.query("SELECT * FROM runs WHERE id = ?", [.text(id)]).first.flatMap(RunRegistry.record)
    }

    /// Newest first; `before` is a `seq` from a cursor.
    func list(status: RunStatus?, before: Int64?, limit: Int) throws -> (records: [RunRecord], lastSeq: Int64?, more: Bool) {
        var sql = "SELECT * FROM runs WHERE 1 = 1"
        var parameters: [SQLiteValue] = []
        if let status {
            sql += " AND status = ?"
            parameters.append(.text(status.rawValue))
        }
        if let before {
            sql += " AND seq < ?"
            parameters.append(.integer(before))
        }
        sql += " ORDER BY seq DESC LIMIT ?"
        parameters.append(.integer(Int64(limit + 1)))
        let rows = try database.query(sql, parameters)
        let page = rows.prefix(limit)
        return (page.compactMap(RunRegistry.record), page.last?["seq"].int, rows.count > limit)
    }

    /// Runs a crash or shutdown left unfinished, oldest first.
    func unfinished() throws -> [(id: String, status: RunStatus, config: RunConfig)] {
        try database.query("SELECT id, status, config FROM runs WHERE status IN ('queued', 'running', 'paused') ORDER BY seq").compactMap {
            row in
            guard let id = row["id"].string, let status = row["status"].string.flatMap(RunStatus.init(rawValue:)),
                let config = RunRegistry.decode(RunConfig.self, row["config"].string)
            else { return nil }
            return (id, status, config)
        }
    }

    public func epochs(_ id: String) throws -> [EpochSummary] {
        try database.query("SELECT summary FROM run_epochs WHERE run_id = ? ORDER BY epoch", [.text(id)])
            .compactMap { RunRegistry.decode(EpochSummary.self, $0["summary"].string) }
    }

    public func events(_ id: String) throws -> [TrainingEvent] {
        try database.query("SELECT event FROM run_events WHERE run_id = ? ORDER BY seq", [.text(id)])
            .compactMap { RunRegistry.decode(TrainingEvent.self, $0["event"].string) }
    }

    static func record(_ row: SQLiteRow) -> RunRecord? {
        guard let id = row["id"].string, let status = row["status"].string.flatMap(RunStatus.init(rawValue:)),
            let config = decode(RunConfig.self, row["config"].string)
        else { return nil }
        let latest = decode(EpochSummary.self, row["latest"].string)
        let started = row["started_ns"].int, finished = row["finished_ns"].int
        var timings = RunTimings()
        timings.epochMs = latest?.epochMs
        timings.validationMs = latest?.validationMs
        timings.boundaryMs = latest?.boundaryMs
        timings.controllerMs = latest?.controllerMs
        timings.samplesPerSecond = latest?.samplesPerSecond
        if let started { timings.elapsedMs = Double((finished ?? WallClock.nanoseconds()) - started) / 1e6 }
        return RunRecord(
            id: id, name: row["name"].string, status: status, config: config,
            epoch: Int(row["epoch"].int ?? 0), epochs: Int(row["epochs"].int ?? Int64(config.epochs)),
            globalStep: row["global_step"].int ?? 0, latestMetrics: latest, timings: timings,
            rollbacks: Int(row["rollbacks"].int ?? 0), restarts: Int(row["restarts"].int ?? 0),
            resumedFromEpoch: row["resumed_from_epoch"].int.map { Int($0) }, error: row["error"].string,
            createdAt: RFC3339.format(unixNanoseconds: row["created_ns"].int ?? 0),
            startedAt: started.map { RFC3339.format(unixNanoseconds: $0) },
            finishedAt: finished.map { RFC3339.format(unixNanoseconds: $0) })
    }
}
