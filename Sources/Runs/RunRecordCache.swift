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
    private final class Record: Sendable {
        let version: Int64
        let json: [UInt8]

        init(version: Int64, json: [UInt8]) {
            self.version = version
            self.json = json
        }
    }

    /// What `kept` reads of a row: `SELECT \(versionColumns) FROM runs …`.
    static let versionColumns = "seq, row_version, started_ns IS NOT NULL AND finished_ns IS NULL"

    /// The stored config and latest summary decoded and encoded once (what a record is
    /// written from when it is not here).
    let configs: StoredJSONCache<RunConfig>
    let summaries: StoredJSONCache<EpochSummary>
    private let records: GenerationalCache<Int64, Record>

    init(capacity: Int = 8192) {
        records = GenerationalCache(capacity: capacity)
        configs = StoredJSONCache(capacity: max(1, capacity / 2))
        summaries = StoredJSONCache(capacity: max(1, capacity / 2))
    }

    /// The kept record of the current row of `SELECT \(versionColumns)`, if there is one for
    /// its version and it does not measure time up to now.
    func kept(_ statement: SQLiteStatementRow) -> [UInt8]? {
        guard let seq = statement.int(0), let version = statement.int(1), statement.int(2) == 0,
            let record = records.value(seq), record.version == version
        else { return nil }
        return record.json
    }

    /// `RunRecordJSON.write` of the current row (`RunRecordJSON.Row.columns`), from the kept
    /// record when its version is the row's.
    func write(_ statement: SQLiteStatementRow, into out: inout [UInt8]) -> Bool {
        guard let seq = statement.int(0) else { return false }
        let version = statement.int(RunRecordJSON.Row.versionColumn) ?? 0
        let live = RunRecordJSON.measuresElapsedToNow(statement)
        if !live, let record = records.value(seq), record.version == version {
            out.append(contentsOf: record.json)
            return true
        }
        let mark = out.count
        guard RunRecordJSON.write(statement, configs: configs, summaries: summaries, into: &out) else { return false }
        if !live { records.set(seq, Record(version: version, json: Array(out[mark...]))) }
        return true
    }
}
