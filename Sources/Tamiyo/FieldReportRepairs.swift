import EsperStorage
import Foundation
import Logging

/// What opening the field-report log found damaged, made visible (issue 16): each skipped
/// record named by its byte offset and reason in the log and the repairs ledger (→
/// `esper_repairs_total{component="tamiyo"}`), its bytes kept in
/// `<data>/tamiyo/quarantine/field_reports.log.<time>.<n>`, and the log rewritten with the
/// intact records so the same damage is not reported at every start.
enum RepairLog {
    static func fieldReports(_ store: FieldReportStore, logger: Logger) {
        let damaged = store.damagedAtOpen
        guard !damaged.isEmpty else { return }
        let directory = (store.path as NSString).deletingLastPathComponent
        let name = (store.path as NSString).lastPathComponent
        var kept: [UInt8] = []
        for record in damaged { kept += record.bytes + [10] }
        let quarantine = Repairs.keep(kept, name: name, directory: directory)
        for record in damaged {
            let place = record.offset >= 0 ? "byte \(record.offset)" : "a record (offset unknown after parsing)"
            logger.error(
                "field-report log: damaged record skipped",
                metadata: [
                    "file": "\(store.path)", "offset": "\(record.offset)", "reason": "\(record.reason)",
                    "quarantine": "\(quarantine ?? "(could not be kept)")",
                ])
            Repairs.shared.record(
                RepairEvent(
                    component: "tamiyo", file: store.path + (record.offset >= 0 ? "@\(record.offset)" : ""),
                    reason: "\(record.reason) at \(place)", action: "skipped", quarantine: quarantine))
        }
        do {
            try store.rewriteIntact()
        } catch {
            logger.error("field-report log could not be rewritten without its damaged records", metadata: ["error": "\(error)"])
        }
    }
}
