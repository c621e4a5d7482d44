import EsperJSON
import EsperStorage
import Karn

import enum Leyline.BlueprintTier

/// The `blueprints` table (08 §3.2): the reference columns keep their meaning
/// (`metadata_json` holds the whole descriptor, `tier` its enum name), the rest index the
/// artifact and its state. Every read goes to the database, never to a cache.
struct UrzaCatalogStore: Sendable {
    static let schemaVersion: Int64 = 1
    static let columnNames = [
        "blueprint_id", "name", "tier", "artifact_path", "metadata_json", "risk", "stage", "quarantine_only",
        "approval_required", "artifact_sha256", "artifact_crc32", "artifact_bytes", "format_version", "params_json",
        "params_sha256", "seed_width", "kind", "variant", "validation_status", "state", "compiled_at_ns", "updated_at_ns",
    ]
    static let columns = columnNames.joined(separator: ", ")

    let database: SQLiteDatabase

    init(path: String) throws(StorageError) {
        database = try SQLiteDatabase(path: path)
        // A committed save must survive power loss, not only a process crash (08 §3.1).
        try database.execute("PRAGMA synchronous=FULL; PRAGMA busy_timeout=2000;")
        try database.execute(
            """
            CREATE TABLE IF NOT EXISTS blueprints (
              blueprint_id TEXT PRIMARY KEY, name TEXT NOT NULL, tier TEXT NOT NULL,
              artifact_path TEXT NOT NULL, metadata_json TEXT NOT NULL,
              risk REAL NOT NULL DEFAULT 0, stage INTEGER NOT NULL DEFAULT 0,
              quarantine_only INTEGER NOT NULL DEFAULT 0, approval_required INTEGER NOT NULL DEFAULT 0,
              artifact_sha256 TEXT, artifact_crc32 TEXT, artifact_bytes INTEGER,
              format_version INTEGER, params_json TEXT, params_sha256 TEXT, seed_width INTEGER,
              kind TEXT, variant TEXT, validation_status TEXT NOT NULL DEFAULT 'UNVALIDATED',
              state TEXT NOT NULL DEFAULT 'AVAILABLE',
              compiled_at_ns INTEGER, updated_at_ns INTEGER);
            CREATE INDEX IF NOT EXISTS blueprints_tier ON blueprints(tier);
            CREATE INDEX IF NOT EXISTS blueprints_stage ON blueprints(stage);
            CREATE INDEX IF NOT EXISTS blueprints_artifact ON blueprints(artifact_sha256);
            CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
            """)
        if try database.query("SELECT version FROM schema_version").isEmpty {
            try database.query("INSERT INTO schema_version (version) VALUES (?)", [.integer(UrzaCatalogStore.schemaVersion)])
        }
    }

    /// Insert or replace the row of `record.blueprintId` in one transaction.
    func upsert(_ record: UrzaRecord) throws {
        let descriptorJSON = String(decoding: try JanssonEncoder().encode(record.descriptor), as: UTF8.self)
        let paramsJSON = String(decoding: try JanssonEncoder().encode(record.parameters), as: UTF8.self)
        let d = record.descriptor
        let values: [SQLiteValue] = [
            .text(d.blueprintId), .text(d.name), .text(d.tier.enumName), .text(record.artifactPath), .text(descriptorJSON),
            .real(d.riskValue), .integer(Int64(d.stage)), .integer(d.quarantineOnly ? 1 : 0),
            .integer(d.approvalRequired ? 1 : 0), .text(record.artifactSHA256), .text(record.artifactCRC32),
            .integer(Int64(record.artifactBytes)), .integer(Int64(record.formatVersion)), .text(paramsJSON),
            .text(record.paramsSHA256), .integer(Int64(record.seedWidth)), .text(record.kind), .text(record.variant),
            .text(record.validationStatus), .text(record.state.rawValue), .integer(record.compiledAtNs),
            .integer(record.updatedAtNs),
        ]
        let names = UrzaCatalogStore.columnNames
        let updates = names.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: names.count).joined(separator: ", ")
        try database.transaction { tx in
            try tx.query(
                "INSERT INTO blueprints (\(UrzaCatalogStore.columns)) VALUES (\(placeholders)) "
                    + "ON CONFLICT(blueprint_id) DO UPDATE SET \(updates)", values)
        }
    }

    /// Sets the state of `id`'s row if its artifact is still `artifactSHA256` (a concurrent
    /// save of a newer artifact must not be marked for its predecessor's damage). Returns
    /// whether a row changed.
    func setState(_ id: String, artifactSHA256: String, _ state: ArtifactState, updatedAtNs: Int64) throws -> Bool {
        try database.transaction { tx in
            try tx.query(
                "UPDATE blueprints SET state = ?, updated_at_ns = ? WHERE blueprint_id = ? AND artifact_sha256 = ? AND state != ?",
                [.text(state.rawValue), .integer(updatedAtNs), .text(id), .text(artifactSHA256), .text(state.rawValue)])
            return !(try tx.query("SELECT changes() AS n").first?["n"].int == 0)
        }
    }

    func get(_ id: String) throws(StorageError) -> UrzaRecord? {
        try database.query("SELECT \(UrzaCatalogStore.columns) FROM blueprints WHERE blueprint_id = ?", [.text(id)])
            .first.flatMap(UrzaCatalogStore.record)
    }

    func byArtifact(_ sha256: String) throws(StorageError) -> UrzaRecord? {
        try database.query(
            "SELECT \(UrzaCatalogStore.columns) FROM blueprints WHERE artifact_sha256 = ? LIMIT 1",
            [.text(sha256)]
        ).first.flatMap(UrzaCatalogStore.record)
    }

    /// Rows ordered by id, after `after` (exclusive), filtered, at most `limit`.
    func list(
        tier: BlueprintTier?, stage: Int?, quarantined: Bool?, state: ArtifactState?, after: String?,
        limit: Int?
    ) throws(StorageError) -> [UrzaRecord] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let after { conditions.append("blueprint_id > ?"); values.append(.text(after)) }
        if let tier { conditions.append("tier = ?"); values.append(.text(tier.enumName)) }
        if let stage { conditions.append("stage = ?"); values.append(.integer(Int64(stage))) }
        if let quarantined { conditions.append("quarantine_only = ?"); values.append(.integer(quarantined ? 1 : 0)) }
        if let state { conditions.append("state = ?"); values.append(.text(state.rawValue)) }
        var sql = "SELECT \(UrzaCatalogStore.columns) FROM blueprints"
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        sql += " ORDER BY blueprint_id"
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return try database.query(sql, values).compactMap(UrzaCatalogStore.record)
    }

    /// Rows by artifact state, counted by SQLite: what `list` would return, grouped (rows
    /// without an id skipped, an unknown state read as available), without decoding any
    /// row's JSON. `/healthz` asks this ten times a second under load.
    func stateCounts() throws(StorageError) -> [ArtifactState: Int] {
        var counts: [ArtifactState: Int] = [:]
        let rows = try database.query(
            "SELECT state, COUNT(*) AS n FROM blueprints WHERE blueprint_id IS NOT NULL GROUP BY state")
        for row in rows {
            counts[ArtifactState(rawValue: row["state"].string ?? "") ?? .available, default: 0] += Int(row["n"].int ?? 0)
        }
        return counts
    }

    func count() throws(StorageError) -> Int {
        Int(try database.query("SELECT COUNT(*) AS n FROM blueprints").first?["n"].int ?? 0)
    }

    /// Decodes a row; the `tier` column overrides the JSON tier and empty ids/names are filled
    /// from their columns, as the reference reader does. Rows written by the reference design
    /// (defaults omitted, no artifact columns) still read.
    static func record(_ row: SQLiteRow) -> UrzaRecord? {
        guard let id = row["blueprint_id"].string else { return nil }
        let metadata = row["metadata_json"].string ?? "{}"
        var descriptor =
            (try? JanssonDecoder().decode(BlueprintDescriptor.self, from: Array(metadata.utf8)))
            ?? BlueprintDescriptor(blueprintId: id, name: "", tier: .unspecified, risk: 0, stage: 0, description: "")
        if descriptor.blueprintId.isEmpty { descriptor.blueprintId = id }
        if descriptor.name.isEmpty { descriptor.name = row["name"].string ?? "" }
        if let tierName = row["tier"].string, let tier = BlueprintTier.parse(tierName) { descriptor.tier = tier }
        let parameters =
            row["params_json"].string
            .flatMap { try? JanssonDecoder().decode([String: Double].self, from: Array($0.utf8)) } ?? [:]
        return UrzaRecord(
            descriptor: descriptor, artifactPath: row["artifact_path"].string ?? "",
            artifactSHA256: row["artifact_sha256"].string ?? "", artifactCRC32: row["artifact_crc32"].string ?? "",
            artifactBytes: Int(row["artifact_bytes"].int ?? 0), formatVersion: Int(row["format_version"].int ?? 0),
            parameters: parameters, paramsSHA256: row["params_sha256"].string ?? "",
            seedWidth: Int(row["seed_width"].int ?? 0), kind: row["kind"].string ?? "",
            variant: row["variant"].string ?? "", validationStatus: row["validation_status"].string ?? "UNVALIDATED",
            state: ArtifactState(rawValue: row["state"].string ?? "") ?? .available,
            compiledAtNs: row["compiled_at_ns"].int ?? 0, updatedAtNs: row["updated_at_ns"].int ?? 0)
    }
}
