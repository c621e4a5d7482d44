import EsperStorage
import Foundation
import Tolaria

/// Run records as the API encodes them (`RunRecordJSON`), kept per run with an image of the
/// registry row they were written from (`SQLiteStatementRow.appendImage`): while the row is
/// the same byte for byte, the record is the same bytes, so a list page or a get copies it
/// instead of writing it again (writing fifty records — times, numbers, escaped strings — was
/// most of a page's CPU). A changed row (a new epoch, a status) simply writes and replaces
/// it. A run that started and has not finished is written every time: its elapsed time is
/// measured up to now.
final class RunRecordCache: Sendable {
    private final class Record: Sendable {
        let row: [UInt8]
        let json: [UInt8]

        init(row: [UInt8], json: [UInt8]) {
            self.row = row
            self.json = json
        }
    }

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

    /// `RunRecordJSON.write` of the current row (`RunRecordJSON.Row.columns`); `row` is
    /// scratch space for the row's image, reused across the rows of one request.
    func write(_ statement: SQLiteStatementRow, row: inout [UInt8], into out: inout [UInt8]) -> Bool {
        guard let seq = statement.int(0) else { return false }
        row.removeAll(keepingCapacity: true)
        statement.appendImage(to: &row)
        if let record = records.value(seq), RunRecordCache.same(record.row, row) {
            out.append(contentsOf: record.json)
            return true
        }
        let mark = out.count
        guard RunRecordJSON.write(statement, configs: configs, summaries: summaries, into: &out) else { return false }
        if !RunRecordJSON.measuresElapsedToNow(statement) {
            records.set(seq, Record(row: row, json: Array(out[mark...])))
        }
        return true
    }

    private static func same(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count
            && a.withUnsafeBytes { a in b.withUnsafeBytes { b in a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
    }
}
