import EsperStorage
import Tolaria

/// Run records as the API encodes them (`RunRecordJSON`), kept per run with the version of
/// the registry row they were written from (`runs.row_version`, counted up by a trigger on
/// every update of the row): while the version is the same, so is the record, and a list
/// page or a get copies it instead of writing it again (writing fifty records — times,
/// numbers, escaped strings — was most of a page's CPU; reading every column of fifty rows
/// and comparing them was most of what was left). A run that started and has not finished is
/// written every time: its elapsed time is measured up to now.
final class RunRecordCache: Sendable {
    /// What `key` reads of a row: `SELECT \(versionColumns) FROM runs …`.
    static let versionColumns = "seq, row_version, started_ns IS NOT NULL AND finished_ns IS NULL"

    /// The stored config and latest summary decoded and encoded once (what a record is
    /// written from when it is not here).
    let configs: StoredJSONCache<RunConfig>
    let summaries: StoredJSONCache<EpochSummary>
    private let records: GenerationalCache<Int64, KeptBytes>

    init(capacity: Int = 8192) {
        records = GenerationalCache(capacity: capacity, discard: KeptBytes.free)
        configs = StoredJSONCache(capacity: max(1, capacity / 2))
        summaries = StoredJSONCache(capacity: max(1, capacity / 2))
    }

    /// The run and row version of the current row of `SELECT \(versionColumns)`, or nil when
    /// its record is never kept (it measures time up to now).
    static func key(_ statement: SQLiteStatementRow) -> (seq: Int64, version: Int64)? {
        guard let seq = statement.int(0), let version = statement.int(1), statement.int(2) == 0 else { return nil }
        return (seq, version)
    }

    /// Appends the kept records of `rows`, comma-separated, when every one is kept at its
    /// row's version; else false and `out` is as it was.
    func appendKept(_ rows: [(seq: Int64, version: Int64)], to out: inout [UInt8]) -> Bool {
        records.appendKept(rows.map { (key: $0.seq, version: $0.version) }, to: &out)
    }

    /// `RunRecordJSON.write` of the current row (`RunRecordJSON.Row.columns`), from the kept
    /// record when its version is the row's.
    func write(_ statement: SQLiteStatementRow, into out: inout [UInt8]) -> Bool {
        guard let seq = statement.int(0) else { return false }
        let version = statement.int(RunRecordJSON.Row.versionColumn) ?? 0
        let live = RunRecordJSON.measuresElapsedToNow(statement)
        if !live, appendKept([(seq, version)], to: &out) { return true }
        let mark = out.count
        guard RunRecordJSON.write(statement, configs: configs, summaries: summaries, into: &out) else { return false }
        if !live { records.set(seq, KeptBytes(version: version, bytes: out[mark...])) }
        return true
    }
}
