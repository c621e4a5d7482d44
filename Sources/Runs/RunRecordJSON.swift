import EsperJSON
import EsperStorage
import Leyline
import Tolaria

/// A run record as the API encodes it (`JanssonEncoder` of `RunRecord`: snake_case keys in
/// sorted order, absent optionals left out), written straight from a registry row with the
/// config and latest summary taken from `StoredJSONCache` — the same bytes without building
/// and encoding a `RunRecord` per row (`RunRecordJSONTests` compares them).
enum RunRecordJSON {
    /// The record of `row`, or nil where `RunRegistry.record` gives none (not a run).
    static func write(
        _ row: SQLiteRow, configs: StoredJSONCache<RunConfig>, summaries: StoredJSONCache<EpochSummary>, into out: inout [UInt8]
    ) -> Bool {
        guard let id = row["id"].string, let status = row["status"].string.flatMap(RunStatus.init(rawValue:)),
            let configText = row["config"].string, let config = configs.entry(id, configText)
        else { return false }
        let latest = row["latest"].string.flatMap { summaries.entry(id, $0) }
        let started = row["started_ns"].int, finished = row["finished_ns"].int
        var writer = ObjectWriter()
        writer.open(&out)
        writer.raw("config", config.json, &out)
        writer.string("created_at", RFC3339.format(unixNanoseconds: row["created_ns"].int ?? 0), &out)
        writer.number("epoch", String(Int(row["epoch"].int ?? 0)), &out)
        writer.number("epochs", String(Int(row["epochs"].int ?? Int64(config.value.epochs))), &out)
        writer.string("error", row["error"].string, &out)
        writer.string("finished_at", finished.map { RFC3339.format(unixNanoseconds: $0) }, &out)
        writer.number("global_step", String(row["global_step"].int ?? 0), &out)
        writer.string("id", id, &out)
        if let latest { writer.raw("latest_metrics", latest.json, &out) }
        writer.string("name", row["name"].string, &out)
        writer.number("restarts", String(Int(row["restarts"].int ?? 0)), &out)
        writer.number("resumed_from_epoch", row["resumed_from_epoch"].int.map { String(Int($0)) }, &out)
        writer.number("rollbacks", String(Int(row["rollbacks"].int ?? 0)), &out)
        writer.string("started_at", started.map { RFC3339.format(unixNanoseconds: $0) }, &out)
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

        mutating func string(_ name: String, _ value: String?, _ out: inout [UInt8]) {
            guard let value, let json = try? JanssonEncoder().encode(value) else { return }
            raw(name, json, &out)
        }

        mutating func number(_ name: String, _ text: String?, _ out: inout [UInt8]) {
            guard let text else { return }
            key(name, &out)
            out.append(contentsOf: text.utf8)
        }

        mutating func real(_ name: String, _ value: Double?, _ out: inout [UInt8]) {
            guard let value, let json = try? JanssonEncoder().encode(value) else { return }
            raw(name, json, &out)
        }
    }
}
