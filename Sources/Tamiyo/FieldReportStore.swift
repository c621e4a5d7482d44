public import EsperStorage
import Foundation
public import Leyline
import Synchronization

/// The durable field-report log (03-tamiyo §7): `<data>/tamiyo/field_reports.log`, one
/// record per line with a CRC each (EsperStorage's `AppendOnlyLog`), fsync per append, a torn
/// last record cut off when the log is opened, a record whose checksum fails skipped. Reports
/// older than the retention are dropped at open and after appends by an atomic rewrite of the
/// survivors. Records are Leyline's canonical JSON of `FieldReport`.
public final class FieldReportStore: Sendable {
    public let path: String
    public let retentionSeconds: Double
    private let log: AppendOnlyLog
    private let reports: Mutex<[FieldReport]>
    /// Serialises check-and-append, so two writers of the same report store it once.
    private let appending = Mutex(())
    /// Records skipped when the log was opened (torn tail, checksum or parse failures).
    public let skippedAtOpen: Int
    /// Each record skipped at open: byte offset in the log and why (checksum, format, parse).
    public let damagedAtOpen: [AppendOnlyLog.DamagedRecord]

    public init(path: String, retentionHours: Double) throws(StorageError) {
        self.path = path
        retentionSeconds = retentionHours * 3600
        log = try AppendOnlyLog(path: path)
        let contents = try log.read()
        var loaded: [FieldReport] = []
        var unreadable = 0
        var damaged = (log.tornAtOpen.map { [$0] } ?? []) + contents.damaged
        for record in contents.records {
            if let report = try? LeylineCodec.decode(FieldReport.self, from: record) {
                loaded.append(report)
            } else {
                unreadable += 1
                damaged.append(AppendOnlyLog.DamagedRecord(offset: -1, reason: "checksum fine but not a field report", bytes: record))
            }
        }
        skippedAtOpen = contents.skipped + unreadable + (log.tornAtOpen == nil ? 0 : 1)
        damagedAtOpen = damaged
        reports = Mutex(loaded)
        try enforceRetention(now: Date().timeIntervalSince1970)
    }

    /// Every report kept, oldest first.
    public var all: [FieldReport] { reports.withLock { $0 } }

    /// Appends (fsync) and keeps it in memory, then applies the retention — unless a report
    /// with the same `report_id` is kept already (a resumed run or a redelivered record writes
    /// the same report again): then nothing changes and the answer is false.
    @discardableResult
    public func append(_ report: FieldReport) throws -> Bool {
        let bytes = try LeylineCodec.encode(report)
        let added = try appending.withLock { _ throws -> Bool in
            guard !reports.withLock({ $0.contains { $0.reportId == report.reportId } }) else { return false }
            try log.append(bytes)
            reports.withLock { $0.append(report) }
            return true
        }
        guard added else { return false }
        try enforceRetention(now: Date().timeIntervalSince1970)
        return true
    }

    /// Whether a report with this id is kept.
    public func contains(reportId: String) -> Bool { reports.withLock { $0.contains { $0.reportId == reportId } } }

    /// Rewrites the log with the reports held now (after damaged records were quarantined).
    public func rewriteIntact() throws(StorageError) {
        let survivors = reports.withLock { $0 }
        try log.rewrite(survivors.compactMap { try? LeylineCodec.encode($0) })
    }

    /// Drops reports issued before now − retention (a report without a timestamp counts as
    /// new); rewrites the log atomically when anything was dropped.
    public func enforceRetention(now: Double) throws(StorageError) {
        let cutoff = now - retentionSeconds
        let survivors: [FieldReport]? = reports.withLock { reports in
            let kept = reports.filter { $0.issuedAt == .epoch || Double($0.issuedAt.seconds) >= cutoff }
            guard kept.count != reports.count else { return nil }
            reports = kept
            return kept
        }
        guard let survivors else { return }
        try log.rewrite(survivors.compactMap { try? LeylineCodec.encode($0) })
    }

    /// Reports matching the filters, oldest first, from `after` (the position a previous page
    /// ended at), at most `limit`; the position after the last one returned when more remain.
    public func query(
        run: String?, outcome: FieldReportOutcome?, since: LeylineTimestamp?, after: Int, limit: Int
    )
        -> (items: [FieldReport], next: Int?)
    {
        reports.withLock { reports in
            var items: [FieldReport] = []
            var index = max(0, after)
            while index < reports.count {
                let report = reports[index]
                index += 1
                if let run, report.trainingRunId != run { continue }
                if let outcome, report.outcome != outcome { continue }
                if let since, report.issuedAt < since { continue }
                items.append(report)
                if items.count == limit { break }
            }
            let more = reports[index...].contains { report in
                (run == nil || report.trainingRunId == run) && (outcome == nil || report.outcome == outcome)
                    && (since == nil || report.issuedAt >= since!)
            }
            return (items, more ? index : nil)
        }
    }
}
