import EsperJSON
public import EsperStorage
import Foundation
import Leyline
public import Logging
public import Prometheus
import Synchronization

/// Nissa's durable state in one SQLite file (`<data>/nissa/nissa.db`): alerts (the history,
/// with acks), the delivery log with every pending and parked notification (its body too, so
/// it can be sent after a restart), and SLO samples. Memory stays the read path; this file is
/// written through on every change and read once at start. Rows are bounded by the same
/// limits as memory (alert history, delivery log, parked bound, SLO window) plus
/// `retentionDays` for resolved alerts and settled deliveries.
///
/// A write that fails (disk full, I/O error) never stops ingest: it is logged, counted
/// (`esper_nissa_store_errors_total`) and reported by `health` until a later write succeeds.
/// Parked notifications past the bound go to `dead-letters.log` (checksummed, fsynced).
public final class NissaStateStore: Sendable {
    public let path: String
    public let deadLetterPath: String
    private let database: SQLiteDatabase
    private let deadLetters: AppendOnlyLog
    private let logger: Logger
    private let errors: Counter
    private let lastError = Mutex<String?>(nil)
    /// What opening found and did (a damaged file quarantined), for the log and health.
    public let openingReport: String?

    /// Opens (creating) the store in `directory`. A file that fails `PRAGMA quick_check` is
    /// moved to `directory/quarantine/` with a log line and a fresh one is started: Nissa's
    /// state is worth less than a Nissa that runs.
    public init(directory: String, registry: PrometheusCollectorRegistry, logger: Logger) throws(StorageError) {
        path = directory + "/nissa.db"
        deadLetterPath = directory + "/dead-letters.log"
        self.logger = logger
        errors = registry.counter(
            "esper_nissa_store_errors_total", help: "Writes to Nissa's state file (nissa.db) that failed (disk full, I/O).")
        let repairs = registry.counter(
            "esper_nissa_store_quarantined_total", help: "Damaged nissa.db files moved to quarantine at start.")
        var report: String?
        var opened: SQLiteDatabase?
        var findings: [String]
        do {
            opened = try SQLiteDatabase(path: path)
            findings = opened?.quickCheck() ?? []
        } catch {
            // Only damage is repaired this way; a full disk or a permission problem is not
            // the file's fault and stops the start with its reason.
            let damaged = ["malformed", "not a database", "corrupt"].contains { error.reason.lowercased().contains($0) }
            guard damaged else { throw error }
            findings = [error.reason]
        }
        let database: SQLiteDatabase
        if let opened, findings.isEmpty {
            database = opened
        } else {
            opened = nil
            let quarantine = directory + "/quarantine"
            try AtomicFile.createDirectory(quarantine)
            let target = quarantine + "/nissa.db.\(Int(Date().timeIntervalSince1970))"
            for suffix in ["", "-wal", "-shm"] where AtomicFile.exists(path + suffix) {
                _ = rename(path + suffix, target + suffix)
            }
            report = "\(path) failed its integrity check (\(findings.prefix(3).joined(separator: "; "))); moved to \(target), started empty"
            logger.error(
                "nissa state file damaged: quarantined and started empty",
                metadata: ["file": "\(path)", "quarantine": "\(target)", "findings": "\(findings.joined(separator: "; "))"])
            repairs.increment()
            database = try SQLiteDatabase(path: path)
        }
        self.database = database
        openingReport = report
        deadLetters = try AppendOnlyLog(path: deadLetterPath)
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS alerts (
                id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, state TEXT NOT NULL,
                updated_ms INTEGER NOT NULL, record TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS deliveries (
                id TEXT PRIMARY KEY, number INTEGER NOT NULL, settled INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL, url TEXT NOT NULL, body BLOB NOT NULL, record TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS slo_samples (
                key TEXT NOT NULL, time_ms INTEGER NOT NULL, violated INTEGER NOT NULL,
                objective REAL NOT NULL, actual REAL NOT NULL);
            CREATE INDEX IF NOT EXISTS slo_samples_time ON slo_samples (time_ms);
            """)
    }

    /// nil when the last write succeeded; else what failed.
    public var health: String? { lastError.withLock { $0 } }

    private func write(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
            lastError.withLock { $0 = nil }
        } catch {
            errors.increment()
            let reason = "\(error)"
            let first = lastError.withLock { last -> Bool in
                defer { last = "cannot save \(what): \(reason)" }
                return last == nil
            }
            // One line per failure streak, not one per packet while the disk stays full.
            if first {
                logger.error("nissa cannot save its state", metadata: ["file": "\(path)", "what": "\(what)", "error": "\(reason)"])
            }
        }
    }

    // MARK: alerts

    public func saveAlerts(_ records: [AlertRecord], removed: [String] = []) {
        guard !records.isEmpty || !removed.isEmpty else { return }
        write("alerts") {
            try database.transaction { transaction in
                for record in records {
                    let json = String(decoding: try JanssonEncoder().encode(record), as: UTF8.self)
                    try transaction.query(
                        "INSERT OR REPLACE INTO alerts (id, sequence, state, updated_ms, record) VALUES (?, ?, ?, ?, ?)",
                        [
                            .text(record.id), .integer(record.sequence), .text(record.state.rawValue),
                            .integer(record.updatedAt.millisecondsSinceEpoch), .text(json),
                        ])
                }
                for id in removed { try transaction.query("DELETE FROM alerts WHERE id = ?", [.text(id)]) }
            }
        }
    }

    /// Oldest first. Rows that no longer decode are skipped with a log line naming them.
    public func loadAlerts() -> [AlertRecord] {
        let rows = (try? database.query("SELECT id, sequence, record FROM alerts ORDER BY sequence")) ?? []
        return rows.compactMap { row in
            do {
                var record = try JanssonDecoder().decode(AlertRecord.self, from: Array((row["record"].string ?? "").utf8))
                record.sequence = row["sequence"].int ?? 0
                return record
            } catch {
                logger.error("nissa alert row unreadable, skipped", metadata: ["file": "\(path)", "alert": "\(row["id"].string ?? "?")"])
                return nil
            }
        }
    }

    // MARK: deliveries

    public struct StoredDelivery: Sendable {
        public var record: DeliveryRecord
        public var url: String
        public var body: [UInt8]
    }

    public func saveDeliveries(_ deliveries: [StoredDelivery], removed: [String] = []) {
        guard !deliveries.isEmpty || !removed.isEmpty else { return }
        write("deliveries") {
            try database.transaction { transaction in
                for delivery in deliveries {
                    let record = delivery.record
                    let json = String(decoding: try JanssonEncoder().encode(record), as: UTF8.self)
                    try transaction.query(
                        "INSERT OR REPLACE INTO deliveries (id, number, settled, updated_ms, url, body, record) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [
                            .text(record.id), .integer(Int64(record.id.dropFirst(4)) ?? 0), .integer(record.isSettled ? 1 : 0),
                            .integer(record.updatedAt.millisecondsSinceEpoch), .text(delivery.url), .blob(delivery.body), .text(json),
                        ])
                }
                for id in removed { try transaction.query("DELETE FROM deliveries WHERE id = ?", [.text(id)]) }
            }
        }
    }

    /// Oldest first.
    public func loadDeliveries() -> [StoredDelivery] {
        let rows = (try? database.query("SELECT id, url, body, record FROM deliveries ORDER BY number")) ?? []
        return rows.compactMap { row in
            do {
                let record = try JanssonDecoder().decode(DeliveryRecord.self, from: Array((row["record"].string ?? "").utf8))
                return StoredDelivery(record: record, url: row["url"].string ?? "", body: row["body"].bytes ?? [])
            } catch {
                logger.error(
                    "nissa delivery row unreadable, skipped", metadata: ["file": "\(path)", "delivery": "\(row["id"].string ?? "?")"])
                return nil
            }
        }
    }

    /// Appends a notification that exceeded the parked bound to `dead-letters.log` (one JSON
    /// line: the delivery record and the payload it could not deliver). Throws when even that
    /// fails, so the caller keeps it in memory instead.
    public func deadLetter(_ delivery: StoredDelivery) throws {
        var object: [String: JSONValue] = ["delivery": try JanssonEncoder().encodeValue(delivery.record)]
        object["payload"] = (try? JSONValue.parse(delivery.body)) ?? .string(String(decoding: delivery.body, as: UTF8.self))
        object["dead_lettered_at"] = .string(LeylineTimestamp.now().rfc3339)
        try deadLetters.append(try JSONValue.object(object).serialized())
    }

    // MARK: SLO samples

    public struct StoredSample: Sendable {
        public var key: String
        public var time: Int64
        public var violated: Bool
        public var objective: Double
        public var actual: Double
    }

    public func saveSample(_ sample: StoredSample) {
        write("slo samples") {
            try database.query(
                "INSERT INTO slo_samples (key, time_ms, violated, objective, actual) VALUES (?, ?, ?, ?, ?)",
                [
                    .text(sample.key), .integer(sample.time), .integer(sample.violated ? 1 : 0), .real(sample.objective),
                    .real(sample.actual),
                ])
        }
    }

    /// Oldest first.
    public func loadSamples() -> [StoredSample] {
        let rows = (try? database.query("SELECT key, time_ms, violated, objective, actual FROM slo_samples ORDER BY time_ms")) ?? []
        return rows.map { row in
            StoredSample(
                key: row["key"].string ?? "", time: row["time_ms"].int ?? 0, violated: row["violated"].int == 1,
                objective: row["objective"].double ?? 0, actual: row["actual"].double ?? 0)
        }
    }

    // MARK: retention

    /// Deletes SLO samples older than `sloCutoff`, resolved alerts and settled deliveries last
    /// changed before `cutoff` (ms since the epoch), and keeps at most `maxSamplesPerKey`
    /// samples per SLO.
    public func prune(before cutoff: Int64, sloBefore sloCutoff: Int64, maxSamplesPerKey: Int) {
        write("retention") {
            try database.transaction { transaction in
                try transaction.query("DELETE FROM slo_samples WHERE time_ms < ?", [.integer(sloCutoff)])
                try transaction.query(
                    """
                    DELETE FROM slo_samples WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER
                    (PARTITION BY key ORDER BY time_ms DESC) AS n FROM slo_samples) WHERE n > ?)
                    """, [.integer(Int64(maxSamplesPerKey))])
                try transaction.query("DELETE FROM alerts WHERE state = 'resolved' AND updated_ms < ?", [.integer(cutoff)])
                try transaction.query("DELETE FROM deliveries WHERE settled = 1 AND updated_ms < ?", [.integer(cutoff)])
            }
        }
    }

    /// Rows per table (tests, the runbook's numbers).
    public func counts() -> [String: Int] {
        var counts: [String: Int] = [:]
        for table in ["alerts", "deliveries", "slo_samples"] {
            counts[table] = Int((try? database.query("SELECT COUNT(*) AS n FROM \(table)"))?.first?["n"].int ?? 0)
        }
        return counts
    }

    /// `PRAGMA quick_check` findings (empty: sound).
    public func quickCheck() -> [String] { database.quickCheck() }
}

extension AlertRecord: Decodable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(String.self, forKey: .id)
        rule = try c.decode(String.self, forKey: .rule)
        metric = try c.decode(String.self, forKey: .metric)
        source = try c.decode(String.self, forKey: .source)
        severity = try c.decode(AlertSeverity.self, forKey: .severity)
        state = try c.decode(AlertState.self, forKey: .state)
        value = try c.decode(Double.self, forKey: .value)
        threshold = try c.decode(Double.self, forKey: .threshold)
        comparator = try c.decode(AlertComparator.self, forKey: .comparator)
        routes = try c.decode([String].self, forKey: .routes)
        consecutive = try c.decode(Int.self, forKey: .consecutive)
        summary = try c.decode(String.self, forKey: .summary)
        drill = try c.decode(Bool.self, forKey: .drill)
        startedAt = try c.decode(LeylineTimestamp.self, forKey: .startedAt)
        firedAt = try c.decodeIfPresent(LeylineTimestamp.self, forKey: .firedAt)
        resolvedAt = try c.decodeIfPresent(LeylineTimestamp.self, forKey: .resolvedAt)
        updatedAt = try c.decode(LeylineTimestamp.self, forKey: .updatedAt)
        acknowledgedBy = try c.decodeIfPresent(String.self, forKey: .acknowledgedBy)
        acknowledgedAt = try c.decodeIfPresent(LeylineTimestamp.self, forKey: .acknowledgedAt)
    }
}
