import EsperJSON
import EsperStorage
import Foundation
import Leyline
import Tolaria

/// A run record as the API encodes it (`JanssonEncoder` of `RunRecord`: snake_case keys in
/// sorted order, absent optionals left out), written straight from a registry row with the
/// config and latest summary taken from `StoredJSONCache` — the same bytes without building
/// and encoding a `RunRecord` per row (`RunRecordJSONTests` compares them).
enum RunRecordJSON {
    /// The columns of a `runs` row a record is written from, read by position (no row
    /// dictionary): `SELECT \(Row.columns) FROM runs …`.
    struct Row {
        static let columns =
            "seq, id, name, status, config, epoch, epochs, global_step, latest, rollbacks, restarts, resumed_from_epoch, error, "
            + "created_ns, started_ns, finished_ns, row_version"
        /// Where `row_version` is (`RunRecordCache`; not part of the record).
        static let versionColumn: Int32 = 16
        var seq: Int64?
        var id: String?
        var name: String?
        var status: String?
        var epoch: Int64?
        var epochs: Int64?
        var globalStep: Int64?
        var rollbacks: Int64?
        var restarts: Int64?
        var resumedFromEpoch: Int64?
        var error: String?
        var createdNs: Int64?
        var startedNs: Int64?
        var finishedNs: Int64?

        /// A run just recorded as queued (`RunRegistry.create`): what its row holds.
        init(queued id: String, name: String?, epochs: Int, createdNs: Int64) {
            self.id = id
            self.name = name
            status = RunStatus.queued.rawValue
            (epoch, self.epochs, globalStep, rollbacks, restarts) = (0, Int64(epochs), 0, 0, 0)
            self.createdNs = createdNs
        }

        init(_ row: SQLiteStatementRow) {
            seq = row.int(0)
            id = row.text(1)
            name = row.text(2)
            status = row.text(3)
            epoch = row.int(5)
            epochs = row.int(6)
            globalStep = row.int(7)
            rollbacks = row.int(9)
            restarts = row.int(10)
            resumedFromEpoch = row.int(11)
            error = row.text(12)
            createdNs = row.int(13)
            startedNs = row.int(14)
            finishedNs = row.int(15)
        }
    }

    /// Whether the record of the current row (`Row.columns`) says how long the run has been
    /// running up to now (started, not finished): then it is never the same twice.
    static func measuresElapsedToNow(_ statement: SQLiteStatementRow) -> Bool {
        !statement.isNull(14) && statement.isNull(15)
    }

    /// The record of the current row (`Row.columns`), or nil where `RunRegistry.record` gives
    /// none (not a run). The stored config and summary are compared with the cache's copy
    /// where SQLite holds them (no string made unless they changed).
    static func write(
        _ statement: SQLiteStatementRow, configs: StoredJSONCache<RunConfig>, summaries: StoredJSONCache<EpochSummary>,
        into out: inout [UInt8]
    ) -> Bool {
        let row = Row(statement)
        guard let id = row.id, let config = statement.withText(4, { configs.entry(id, $0) }) ?? nil else { return false }
        let latest = statement.withText(8) { summaries.entry(id, $0) } ?? nil
        return write(row, config: (config.value, config.json), latest: latest.map { ($0.value, $0.json) }, into: &out)
    }

    /// The record of `row` with its config and latest summary (each with its encoding), or
    /// false where `RunRegistry.record` gives none (no id, an unknown status).
    static func write(
        _ row: Row, config: (value: RunConfig, json: [UInt8]), latest: (value: EpochSummary, json: [UInt8])?, into out: inout [UInt8]
    ) -> Bool {
        guard let id = row.id, let status = row.status.flatMap(RunStatus.init(rawValue:)) else { return false }
        let started = row.startedNs, finished = row.finishedNs
        var writer = ObjectWriter()
        writer.open(&out)
        writer.raw("config", config.json, &out)
        writer.time("created_at", row.createdNs ?? 0, &out)
        writer.number("epoch", String(Int(row.epoch ?? 0)), &out)
        writer.number("epochs", String(Int(row.epochs ?? Int64(config.value.epochs))), &out)
        writer.string("error", row.error, &out)
        if let finished { writer.time("finished_at", finished, &out) }
        writer.number("global_step", String(row.globalStep ?? 0), &out)
        writer.string("id", id, &out)
        if let latest { writer.raw("latest_metrics", latest.json, &out) }
        writer.string("name", row.name, &out)
        writer.number("restarts", String(Int(row.restarts ?? 0)), &out)
        writer.number("resumed_from_epoch", row.resumedFromEpoch.map { String(Int($0)) }, &out)
        writer.number("rollbacks", String(Int(row.rollbacks ?? 0)), &out)
        if let started { writer.time("started_at", started, &out) }
        writer.string("status", status.rawValue, &out)
        // RunTimings, keys sorted.
        let summary = latest?.value
        let elapsed = started.map { Double((finished ?? WallClock.nanoseconds()) - $0) / 1e6 }
        writer.key("timings", &out)
        var timings = ObjectWriter()
        timings.open(&out)
        timings.real("boundary_ms", summary?.boundaryMs, &out)
        timings.real("controller_ms", summary?.controllerMs, &out)
        timings.real("elapsed_ms", elapsed, &out)
        timings.real("epoch_ms", summary?.epochMs, &out)
        timings.real("samples_per_second", summary?.samplesPerSecond, &out)
        timings.real("validation_ms", summary?.validationMs, &out)
        timings.close(&out)
        writer.close(&out)
        return true
    }

    /// Members of one JSON object appended to a buffer, in the order written (callers write
    /// keys sorted, as the encoder does).
    private struct ObjectWriter {
        var first = true

        func open(_ out: inout [UInt8]) { out.append(UInt8(ascii: "{")) }
        func close(_ out: inout [UInt8]) { out.append(UInt8(ascii: "}")) }

        mutating func key(_ key: String, _ out: inout [UInt8]) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: key.utf8)
            out.append(contentsOf: "\":".utf8)
        }

        mutating func raw(_ name: String, _ json: [UInt8], _ out: inout [UInt8]) {
            key(name, &out)
            out.append(contentsOf: json)
        }

        /// Escaped as the encoder escapes (no jansson string and dump per member: a page has
        /// hundreds of them).
        mutating func string(_ name: String, _ value: String?, _ out: inout [UInt8]) {
            guard let value else { return }
            key(name, &out)
            JSONText.appendString(value, to: &out)
        }

        /// `RFC3339.format(unixNanoseconds:)` as a JSON string, printed in place.
        mutating func time(_ name: String, _ ns: Int64, _ out: inout [UInt8]) {
            guard ns >= 0 else { return string(name, RFC3339.format(unixNanoseconds: ns), &out) }
            var seconds = time_t(ns / 1_000_000_000)
            var parts = tm()
            gmtime_r(&seconds, &parts)
            key(name, &out)
            out.append(UInt8(ascii: "\""))
            ObjectWriter.digits(Int(parts.tm_year) + 1900, 4, &out)
            out.append(UInt8(ascii: "-"))
            ObjectWriter.digits(Int(parts.tm_mon) + 1, 2, &out)
            out.append(UInt8(ascii: "-"))
            ObjectWriter.digits(Int(parts.tm_mday), 2, &out)
            out.append(UInt8(ascii: "T"))
            ObjectWriter.digits(Int(parts.tm_hour), 2, &out)
            out.append(UInt8(ascii: ":"))
            ObjectWriter.digits(Int(parts.tm_min), 2, &out)
            out.append(UInt8(ascii: ":"))
            ObjectWriter.digits(Int(parts.tm_sec), 2, &out)
            out.append(UInt8(ascii: "."))
            ObjectWriter.digits(Int((ns % 1_000_000_000) / 1_000_000), 3, &out)
            out.append(contentsOf: "Z\"".utf8)
        }

        /// A non-negative number in decimal, zero-padded to `width` digits at least.
        static func digits(_ value: Int, _ width: Int, _ out: inout [UInt8]) {
            var count = 1
            var power = 10
            while value >= power {
                count += 1
                power *= 10
            }
            for _ in count..<max(count, width) { out.append(UInt8(ascii: "0")) }
            var divisor = power / 10
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }

        mutating func number(_ name: String, _ text: String?, _ out: inout [UInt8]) {
            guard let text else { return }
            key(name, &out)
            out.append(contentsOf: text.utf8)
        }

        mutating func real(_ name: String, _ value: Double?, _ out: inout [UInt8]) {
            guard let value, let text = JSONText.real(value) else { return }
            key(name, &out)
            out.append(contentsOf: text.utf8)
        }
    }
}
