import EsperJSON
public import EsperStorage
import Foundation
public import Leyline
public import Tolaria

/// The durable list of runs (`<data>/tolaria/runs.db`): config, status, progress, per-epoch
/// summaries and events. It is what the API reads — handlers never touch a trainer — and
/// what the service reads at start-up to pick up runs a crash interrupted.
public final class RunRegistry: Sendable {
    let database: SQLiteDatabase
    /// New runs are committed in groups, each synced to disk before its callers answer.
    let creates: SQLiteGroupCommit
    /// Records as the list and get answers encode them, kept while their rows are unchanged.
    let records = RunRecordCache()
    let histories = RunHistoryCache()

    public init(path: String) throws(StorageError) {
        // Two reading connections: the API's reads (two HTTP threads) go on together and
        // never wait for a write.
        database = try SQLiteDatabase(path: path, readers: 2)
        creates = SQLiteGroupCommit(database: database)
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
        // Exactly once (databases from before these columns get them): which training attempt
        // wrote an epoch or event, which attempt's resume the run last applied, and a key
        // that makes a redelivered event a no-op.
        for (table, column) in [
            ("runs", "resumed_attempt TEXT"), ("run_epochs", "attempt TEXT"), ("run_events", "attempt TEXT"),
            ("run_events", "event_key TEXT"), ("runs", "row_version INTEGER NOT NULL DEFAULT 0"),
        ] {
            try? database.execute("ALTER TABLE \(table) ADD COLUMN \(column)")
        }
        try database.execute("CREATE UNIQUE INDEX IF NOT EXISTS run_events_key ON run_events(run_id, event_key)")
        // Every change of a run's row counts in its row_version, whoever makes it (any
        // statement, any process): a record kept for (seq, row_version) is that row's record
        // (`RunRecordCache`), and a page whose rows are all kept is answered from three columns
        // of each (`RunRecordCache.versionColumns`), which two covering indexes hold — with and
        // without a status filter — so that read touches one small index page, not fifty rows.
        // The WHEN stops the trigger's own update from counting again, should recursive
        // triggers ever be turned on. (`runs_status`, the status index before, is a prefix of
        // the second.)
        try database.execute(
            """
            CREATE TRIGGER IF NOT EXISTS runs_row_version AFTER UPDATE ON runs FOR EACH ROW
            WHEN NEW.row_version = OLD.row_version
            BEGIN UPDATE runs SET row_version = OLD.row_version + 1 WHERE seq = OLD.seq; END;
            CREATE INDEX IF NOT EXISTS runs_versions ON runs(seq, row_version, started_ns, finished_ns);
            CREATE INDEX IF NOT EXISTS runs_status_versions ON runs(status, seq, row_version, started_ns, finished_ns);
            DROP INDEX IF EXISTS runs_status;
            """)
        // A run's epochs and events count in its row_version too, so a whole history kept
        // for a version is that run's history (`RunHistoryCache`). The update these make is
        // not counted again by runs_row_version (its WHEN).
        for table in ["run_epochs", "run_events"] {
            try database.execute(
                """
                CREATE TRIGGER IF NOT EXISTS \(table)_insert_version AFTER INSERT ON \(table) FOR EACH ROW
                BEGIN UPDATE runs SET row_version = row_version + 1 WHERE id = NEW.run_id; END;
                CREATE TRIGGER IF NOT EXISTS \(table)_update_version AFTER UPDATE ON \(table) FOR EACH ROW
                BEGIN UPDATE runs SET row_version = row_version + 1 WHERE id IN (OLD.run_id, NEW.run_id); END;
                CREATE TRIGGER IF NOT EXISTS \(table)_delete_version AFTER DELETE ON \(table) FOR EACH ROW
                BEGIN UPDATE runs SET row_version = row_version + 1 WHERE id = OLD.run_id; END;
                """)
        }
    }

    /// Where a run's records stand: its status and the attempt whose resume it applied last
    /// (records of earlier attempts about epochs from that resume on are superseded).
    public struct Progress: Sendable, Equatable {
        public var status: RunStatus
        public var resumedAttempt: JobAttempt?
        public var resumedFromEpoch: Int?

        /// Whether a record of `attempt` about `epoch` was overtaken by a later attempt that
        /// trains that epoch again (records without an attempt never are).
        public func supersedes(_ attempt: JobAttempt?, epoch: Int) -> Bool {
            guard let attempt, let resumedAttempt, attempt < resumedAttempt else { return false }
            return epoch >= (resumedFromEpoch ?? 0)
        }
    }

    func progress(_ id: String) throws -> Progress? {
        guard
            let row = try database.query("SELECT status, resumed_attempt, resumed_from_epoch FROM runs WHERE id = ?", [.text(id)]).first,
            let status = row["status"].string.flatMap(RunStatus.init(rawValue:))
        else { return nil }
        return Progress(
            status: status, resumedAttempt: JobAttempt(sortKey: row["resumed_attempt"].string),
            resumedFromEpoch: row["resumed_from_epoch"].int.map { Int($0) })
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

    /// What `create` did: recorded the run (at `createdNs`), or found the run that already
    /// holds the idempotency key (and recorded nothing).
    enum Creation: Equatable {
        case created(createdNs: Int64)
        case existing(id: String)
    }

    /// Records a queued run. Returns once the run is committed and synced to disk (a crash,
    /// power loss included, cannot take it back): concurrent creates share one commit and
    /// one sync (`SQLiteGroupCommit`). The idempotency key is checked in the same transaction
    /// as the insert, so two requests with one key record one run, whatever their timing.
    /// `configJSON`: the config as `JanssonEncoder` encodes it (what the row stores).
    func create(id: String, config: RunConfig, configJSON: [UInt8], idempotencyKey: String?) throws -> Creation {
        let insert = RunRegistry.insertion(id: id, config: config, configJSON: configJSON, idempotencyKey: idempotencyKey)
        return created(id, config, configJSON, try creates.transaction(insert))
    }

    /// `create` without waiting: `completion` gets the outcome once the group commit that
    /// recorded the run is synced to disk (or its error), on the committer thread.
    func create(
        id: String, config: RunConfig, configJSON: [UInt8], idempotencyKey: String?,
        completion: @escaping @Sendable (Result<Creation, any Error>) -> Void
    ) {
        let insert = RunRegistry.insertion(id: id, config: config, configJSON: configJSON, idempotencyKey: idempotencyKey)
        creates.submit(insert) { [self] creation in
            completion(creation.map { created(id, config, configJSON, $0) })
        }
    }

    /// A new run's config goes into the record cache as it was stored: its first get or
    /// list decodes nothing.
    private func created(_ id: String, _ config: RunConfig, _ configJSON: [UInt8], _ creation: Creation) -> Creation {
        if case .created = creation { records.configs.remember(id, value: config, json: configJSON) }
        return creation
    }

    /// The work of one create in a group commit: the idempotency key checked in the same
    /// transaction as the insert.
    private static func insertion(
        id: String, config: RunConfig, configJSON: [UInt8], idempotencyKey: String?
    ) -> (SQLiteDatabase.Transaction) throws -> Creation {
        let configText = String(decoding: configJSON, as: UTF8.self)
        let name: SQLiteValue = config.name.map { .text($0) } ?? .null
        let epochs = Int64(config.epochs)
        return { tx in
            if let idempotencyKey,
                let existing = try tx.query("SELECT id FROM runs WHERE idempotency_key = ?", [.text(idempotencyKey)]).first?["id"].string
            {
                return .existing(id: existing)
            }
            let now = WallClock.nanoseconds()
            try tx.query(
                """
                INSERT INTO runs (id, name, status, config, idempotency_key, epochs, created_ns)
                VALUES (?, ?, 'queued', ?, ?, ?, ?)
                """,
                [.text(id), name, .text(configText), idempotencyKey.map { .text($0) } ?? .null, .integer(epochs), .integer(now)])
            return .created(createdNs: now)
        }
    }

    func id(forIdempotencyKey key: String) throws -> String? {
        try database.read { try $0.query("SELECT id FROM runs WHERE idempotency_key = ?", [.text(key)]).first?["id"].string }
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

    /// Records one epoch. A row written by a later attempt is kept (a late record of an
    /// earlier attempt does not replace it), and the run's progress only moves forward: a
    /// redelivered old epoch never lowers `epoch` or replaces the latest metrics.
    func recordEpoch(_ summary: EpochSummary, attempt: JobAttempt? = nil) throws {
        let text = try RunRegistry.text(summary)
        let key: SQLiteValue = attempt.map { .text($0.sortKey) } ?? .null
        try database.transaction { tx in
            if let attempt,
                let stored = try tx.query(
                    "SELECT attempt FROM run_epochs WHERE run_id = ? AND epoch = ?", [.text(summary.runId), .integer(Int64(summary.epoch))]
                ).first.flatMap({ JobAttempt(sortKey: $0["attempt"].string) }), stored > attempt
            {
                return
            }
            try tx.query(
                "INSERT OR REPLACE INTO run_epochs (run_id, epoch, summary, attempt) VALUES (?, ?, ?, ?)",
                [.text(summary.runId), .integer(Int64(summary.epoch)), .text(text), key])
            try tx.query(
                "UPDATE runs SET epoch = ?, global_step = ?, latest = ? WHERE id = ? AND epoch <= ?",
                [
                    .integer(Int64(summary.epoch + 1)), .integer(summary.globalStep), .text(text), .text(summary.runId),
                    .integer(Int64(summary.epoch + 1)),
                ])
        }
    }

    /// Records one event once: the same event delivered again (same content, timestamp
    /// included) is a no-op.
    func recordEvent(_ event: TrainingEvent, attempt: JobAttempt? = nil) throws {
        let text = try RunRegistry.text(event)
        let key = Checksum.sha256Hex(Array(text.utf8))
        try database.transaction { tx in
            guard
                try tx.query("SELECT 1 AS found FROM run_events WHERE run_id = ? AND event_key = ?", [.text(event.runId), .text(key)])
                    .isEmpty
            else { return }
            try tx.query(
                "INSERT INTO run_events (run_id, event, event_key, attempt) VALUES (?, ?, ?, ?)",
                [.text(event.runId), .text(text), .text(key), attempt.map { .text($0.sortKey) } ?? .null])
            if event.kind == .rollback {
                try tx.query("UPDATE runs SET rollbacks = rollbacks + 1 WHERE id = ?", [.text(event.runId)])
            }
        }
    }

    /// A restart resumed the run at `epoch` (epochs completed): later epochs will be trained
    /// again, so the rows earlier attempts wrote for them go — epochs and events alike (the
    /// new attempt writes them again). Rows of this attempt or a later one stay, so a resume
    /// applied late (after its own epochs, a redelivery) loses nothing.
    func resumed(_ id: String, atEpoch epoch: Int, attempt: JobAttempt? = nil) throws {
        let older: String = attempt.map { $0.sortKey } ?? String(repeating: "9", count: 50)
        try database.transaction { tx in
            try tx.query(
                "DELETE FROM run_epochs WHERE run_id = ? AND epoch >= ? AND (attempt IS NULL OR attempt < ?)",
                [.text(id), .integer(Int64(epoch)), .text(older)])
            try tx.query(
                """
                DELETE FROM run_events WHERE run_id = ? AND CAST(json_extract(event, '$.epoch') AS INTEGER) >= ?
                AND (attempt IS NULL OR attempt < ?)
                """,
                [.text(id), .integer(Int64(epoch)), .text(older)])
            let newest = try tx.query(
                "SELECT epoch, summary FROM run_epochs WHERE run_id = ? ORDER BY epoch DESC LIMIT 1", [.text(id)]
            ).first
            let reached = max(epoch, Int(newest?["epoch"].int ?? -1) + 1)
            let latest = newest?["summary"] ?? .null
            let step = RunRegistry.decode(EpochSummary.self, latest.string)?.globalStep ?? 0
            try tx.query(
                """
                UPDATE runs SET epoch = ?, latest = ?, global_step = ?, resumed_from_epoch = ?,
                resumed_attempt = COALESCE(?, resumed_attempt) WHERE id = ?
                """,
                [
                    .integer(Int64(reached)), latest, .integer(step), .integer(Int64(epoch)),
                    attempt.map { .text($0.sortKey) } ?? .null, .text(id),
                ])
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
        try database.read { try $0.query("SELECT * FROM runs WHERE id = ?", [.text(id)]) }.first.flatMap(RunRegistry.record)
    }

    /// Newest first; `before` is a `seq` from a cursor.
    func list(status: RunStatus?, before: Int64?, limit: Int) throws -> (records: [RunRecord], lastSeq: Int64?, more: Bool) {
        let (page, more) = try listRows(status: status, before: before, limit: limit)
        return (page.compactMap(RunRegistry.record), page.last?["seq"].int, more)
    }

    /// `list` as the API encodes it: a JSON array of the records (`RunRecordJSON`), the
    /// last row's `seq` and whether more follow. Rows are read in place (no row dictionaries).
    /// A page whose runs are all in the record cache at their row versions (and none is
    /// running: those are written anew) is answered from three columns of each row; else
    /// every column is read, in the same snapshot.
    func listJSON(
        status: RunStatus?, before: Int64?, limit: Int, prefix: [UInt8] = []
    ) throws -> (items: [UInt8], lastSeq: Int64?, more: Bool) {
        let (versionsSQL, filters) = RunRegistry.listQuery(columns: RunRecordCache.versionColumns, status: status, before: before)
        let recordsSQL = RunRegistry.listQuery(columns: RunRecordJSON.Row.columns, status: status, before: before).sql
        let parameters = filters + [.integer(Int64(limit + 1))]
        var items = prefix
        items.append(UInt8(ascii: "["))
        let start = items.count
        var count = 0
        var lastSeq: Int64?
        try database.read { snapshot in
            var kept: [(seq: Int64, version: Int64)] = []
            kept.reserveCapacity(limit)
            var allKept = true
            try snapshot.forEachRow(versionsSQL, parameters) { row in
                count += 1
                guard count <= limit else { return }
                lastSeq = row.int(0)
                if allKept, let key = RunRecordCache.key(row) { kept.append(key) } else { allKept = false }
            }
            if allKept && records.appendKept(kept, to: &items) { return }
            count = 0
            items.reserveCapacity(start + limit * 4096)
            var first = true
            try snapshot.forEachRow(recordsSQL, parameters) { row in
                count += 1
                guard count <= limit else { return }
                lastSeq = row.int(0)
                let mark = items.count
                if !first { items.append(UInt8(ascii: ",")) }
                if records.write(row, into: &items) {
                    first = false
                } else {
                    items.removeSubrange(mark...)
                }
            }
        }
        items.append(UInt8(ascii: "]"))
        return (items, lastSeq, count > limit)
    }

    /// `run(id)` as the API encodes it (`RunRecordJSON`).
    func runJSON(_ id: String) throws -> [UInt8]? {
        var out: [UInt8] = []
        var found = false
        try database.read { snapshot in
            try snapshot.forEachRow("SELECT \(RunRecordJSON.Row.columns) FROM runs WHERE id = ?", [.text(id)]) { row in
                found = records.write(row, into: &out)
            }
        }
        return found ? out : nil
    }

    /// Newest first (`ORDER BY seq DESC LIMIT ?`; the caller appends the limit).
    private static func listQuery(columns: String, status: RunStatus?, before: Int64?) -> (sql: String, parameters: [SQLiteValue]) {
        var sql = "SELECT \(columns) FROM runs WHERE 1 = 1"
        var parameters: [SQLiteValue] = []
        if let status {
            sql += " AND status = ?"
            parameters.append(.text(status.rawValue))
        }
        if let before {
            sql += " AND seq < ?"
            parameters.append(.integer(before))
        }
        return (sql + " ORDER BY seq DESC LIMIT ?", parameters)
    }

    private func listRows(status: RunStatus?, before: Int64?, limit: Int) throws -> (rows: ArraySlice<SQLiteRow>, more: Bool) {
        let (sql, filters) = RunRegistry.listQuery(columns: "*", status: status, before: before)
        let parameters = filters + [.integer(Int64(limit + 1))]
        let rows = try database.read { try $0.query(sql, parameters) }
        return (rows.prefix(limit), rows.count > limit)
    }

    /// Up to `limit` runs left unfinished after `seq` (a reconcile round's page), oldest first
    /// (their configs are read only for the runs that need a job again: `config(of:)`).
    func unfinished(after seq: Int64, limit: Int) throws -> [(seq: Int64, id: String, status: RunStatus)] {
        var runs: [(seq: Int64, id: String, status: RunStatus)] = []
        try database.read { snapshot in
            try snapshot.forEachRow(
                "SELECT seq, id, status FROM runs WHERE seq > ? AND status IN ('queued', 'running', 'paused') ORDER BY seq LIMIT ?",
                [.integer(seq), .integer(Int64(limit))]
            ) { row in
                guard let seq = row.int(0), let id = row.text(1), let status = row.text(2).flatMap(RunStatus.init(rawValue:)) else {
                    return
                }
                runs.append((seq, id, status))
            }
        }
        return runs
    }

    /// A run's stored config, decoded.
    func config(of id: String) throws -> RunConfig? {
        let text = try database.read { try $0.query("SELECT config FROM runs WHERE id = ?", [.text(id)]) }.first?["config"].string
        return RunRegistry.decode(RunConfig.self, text)
    }

    public func epochs(_ id: String) throws -> [EpochSummary] {
        try database.query("SELECT summary FROM run_epochs WHERE run_id = ? ORDER BY epoch", [.text(id)])
            .compactMap { RunRegistry.decode(EpochSummary.self, $0["summary"].string) }
    }

    public func events(_ id: String) throws -> [TrainingEvent] {
        try database.query("SELECT event FROM run_events WHERE run_id = ? ORDER BY seq", [.text(id)])
            .compactMap { RunRegistry.decode(TrainingEvent.self, $0["event"].string) }
    }

    /// A run's history as `GET /api/v1/runs/{id}/metrics` answers it (`RunMetrics`), written
    /// from the stored JSON of its epochs and events as `recordEpoch` and `recordEvent` wrote
    /// it — `JanssonEncoder`'s output, which decoding and encoding again reproduces byte for
    /// byte — on one snapshot, without decoding a row (that was most of a history's cost).
    /// `since`: only epochs numbered `since` or later, and the events of those epochs.
    /// `fields`: each epoch with only these members (and `epoch`), in the stored order.
    /// Nil for an unknown run.
    func metricsJSON(_ id: String, since: Int? = nil, fields: Set<String>? = nil) throws -> [UInt8]? {
        try database.read { snapshot -> [UInt8]? in
            var found: (status: RunStatus?, epoch: Int64, version: Int64)?
            try snapshot.forEachRow("SELECT status, epoch, row_version FROM runs WHERE id = ?", [.text(id)]) { row in
                found = (row.text(0).flatMap(RunStatus.init(rawValue:)), row.int(1) ?? 0, row.int(2) ?? 0)
            }
            guard let found, let status = found.status else { return nil }
            let whole = since == nil && fields == nil
            if whole, let kept = histories.kept(id, version: found.version) { return kept }
            var out: [UInt8] = []
            out.reserveCapacity(16_384)
            out.append(contentsOf: #"{"epochs":["#.utf8)
            var first = true
            let wanted = fields.map { StoredJSONMembers.Selection($0.union(["epoch"])) }
            try snapshot.forEachRow(
                "SELECT summary FROM run_epochs WHERE run_id = ? AND epoch >= ? ORDER BY epoch", [.text(id), .integer(Int64(since ?? 0))]
            ) { row in
                _ = row.withText(0) { text in
                    if first && wanted == nil {
                        // Room for every epoch at the first one's size: growing the buffer
                        // by doubling copied more bytes than the answer holds.
                        let epochs = max(1, Int(found.epoch) - (since ?? 0) + 1)
                        out.reserveCapacity(out.count + epochs * (text.count + 64) + 4096)
                    }
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    if let wanted {
                        StoredJSONMembers.select(wanted, from: text, into: &out)
                    } else {
                        out.append(contentsOf: text)
                    }
                }
            }
            out.append(contentsOf: #"],"events":["#.utf8)
            first = true
            let (events, parameters): (String, [SQLiteValue]) =
                if let since {
                    (
                        "SELECT event FROM run_events WHERE run_id = ? AND CAST(json_extract(event, '$.epoch') AS INTEGER) >= ? ORDER BY seq",
                        [.text(id), .integer(Int64(since))]
                    )
                } else {
                    ("SELECT event FROM run_events WHERE run_id = ? ORDER BY seq", [.text(id)])
                }
            try snapshot.forEachRow(events, parameters) { row in
                _ = row.withText(0) { text in
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    out.append(contentsOf: text)
                }
            }
            out.append(contentsOf: #"],"run_id":"#.utf8)
            JSONText.appendString(id, to: &out)
            out.append(contentsOf: #","status":"#.utf8)
            JSONText.appendString(status.rawValue, to: &out)
            out.append(UInt8(ascii: "}"))
            if whole { histories.keep(id, version: found.version, out) }
            return out
        }
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
