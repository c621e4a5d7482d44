import EsperStorage
import EsperTestSupport
import Foundation
import Leyline
import Testing

@testable import Tamiyo

/// The durable field-report log: framing with a checksum per record, fsync per append, torn
/// tail ignored, retention with an atomic rewrite, reload at open.
@Suite struct FieldReportStoreTests {
    static func report(
        _ n: Int, run: String = "run-a", outcome: FieldReportOutcome = .success, issued: LeylineTimestamp = .now()
    )
        -> FieldReport
    {
        FieldReport(
            reportId: "fr-\(n)", commandId: "cmd-\(n)", trainingRunId: run, seedId: "seed-0-\(n)", blueprintId: "BP008",
            outcome: outcome, metrics: ["loss_delta": -0.01 * Float(n), "params_delta": 280], observationWindowEpochs: 3,
            issuedAt: issued, tamiyoPolicyVersion: "heuristic-1", notes: "n \(n)")
    }

    @Test func reportsSurviveAReopenInOrder() throws {
        let directory = TemporaryDirectory("field-reports")
        let path = directory.path + "/tamiyo/field_reports.log"
        let store = try FieldReportStore(path: path, retentionHours: 24)
        for n in 1...3 { try store.append(FieldReportStoreTests.report(n)) }
        let reopened = try FieldReportStore(path: path, retentionHours: 24)
        #expect(reopened.all.map(\.reportId) == ["fr-1", "fr-2", "fr-3"])
        #expect(reopened.all[1] == store.all[1] && reopened.skippedAtOpen == 0)
        // One record per line, a CRC each: readable with tail -f.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.split(separator: "\n").count == 3 && text.hasSuffix("\n"))
    }

    @Test func aTornLastRecordIsIgnoredAndTheNextAppendIsReadable() throws {
        let directory = TemporaryDirectory("field-reports")
        let path = directory.path + "/field_reports.log"
        do {
            let store = try FieldReportStore(path: path, retentionHours: 24)
            try store.append(FieldReportStoreTests.report(1))
            try store.append(FieldReportStoreTests.report(2))
        }
        // A crash mid-append: the third record is cut halfway, without its newline.
        let line = Array(try LeylineCodec.encode(FieldReportStoreTests.report(3)))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("deadbeef ".utf8 + line.prefix(line.count / 2)))
        try handle.close()
        let reopened = try FieldReportStore(path: path, retentionHours: 24)
        #expect(reopened.all.map(\.reportId) == ["fr-1", "fr-2"])
        #expect(reopened.damagedAtOpen.map(\.reason) == ["torn tail (no newline), cut off"])
        #expect(reopened.damagedAtOpen.first?.offset == (try #require(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)))
        try reopened.append(FieldReportStoreTests.report(4))
        let again = try FieldReportStore(path: path, retentionHours: 24)
        #expect(again.all.map(\.reportId) == ["fr-1", "fr-2", "fr-4"], "the append after the cut is reachable")
        // A record whose checksum does not match is skipped, the rest kept.
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[3] = bytes[3] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        try bytes.write(to: URL(fileURLWithPath: path))
        let damaged = try FieldReportStore(path: path, retentionHours: 24)
        #expect(damaged.all.map(\.reportId) == ["fr-2", "fr-4"] && damaged.skippedAtOpen == 1)
        // Named: the first record (byte 0), and why.
        #expect(damaged.damagedAtOpen.map(\.offset) == [0])
        #expect(damaged.damagedAtOpen.first?.reason == "checksum mismatch")
    }

    @Test func retentionDropsOldReportsByAnAtomicRewrite() throws {
        let directory = TemporaryDirectory("field-reports")
        let path = directory.path + "/field_reports.log"
        let old = LeylineTimestamp(seconds: Int64(Date().timeIntervalSince1970) - 2 * 86_400)
        do {
            let store = try FieldReportStore(path: path, retentionHours: 24 * 30)
            try store.append(FieldReportStoreTests.report(1, issued: old))
            try store.append(FieldReportStoreTests.report(2))
            try store.append(FieldReportStoreTests.report(3, issued: .epoch))
        }
        let store = try FieldReportStore(path: path, retentionHours: 1)
        #expect(store.all.map(\.reportId) == ["fr-2", "fr-3"], "2 days old is past 1 h; no timestamp counts as new")
        let reopened = try FieldReportStore(path: path, retentionHours: 24 * 30)
        #expect(reopened.all.map(\.reportId) == ["fr-2", "fr-3"], "the log itself was rewritten")
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        // After an append too.
        try reopened.append(FieldReportStoreTests.report(4, issued: old))
        let shortened = try FieldReportStore(path: path, retentionHours: 1)
        #expect(shortened.all.map(\.reportId) == ["fr-2", "fr-3"])
    }

    @Test func queriesFilterAndPage() throws {
        let directory = TemporaryDirectory("field-reports")
        let store = try FieldReportStore(path: directory.path + "/log", retentionHours: 24)
        for n in 1...7 {
            try store.append(FieldReportStoreTests.report(n, run: n % 2 == 0 ? "run-b" : "run-a", outcome: n == 5 ? .regression : .success))
        }
        let first = store.query(run: "run-a", outcome: nil, since: nil, after: 0, limit: 2)
        #expect(first.items.map(\.reportId) == ["fr-1", "fr-3"])
        let second = store.query(run: "run-a", outcome: nil, since: nil, after: try #require(first.next), limit: 2)
        #expect(second.items.map(\.reportId) == ["fr-5", "fr-7"] && second.next == nil)
        #expect(store.query(run: nil, outcome: .regression, since: nil, after: 0, limit: 50).items.map(\.reportId) == ["fr-5"])
        let future = LeylineTimestamp(seconds: Int64(Date().timeIntervalSince1970) + 3600)
        #expect(store.query(run: nil, outcome: nil, since: future, after: 0, limit: 50).items.isEmpty)
    }
}

/// Exactly once at the log: a report made again (a resumed run, a redelivered record) is kept
/// once, also after the log is opened again.
@Suite struct FieldReportDeduplicationTests {
    @Test func aReportWithAKnownIdIsNotAppendedAgain() throws {
        let directory = TemporaryDirectory("field-report-dedup")
        let path = directory.path + "/field_reports.log"
        let store = try FieldReportStore(path: path, retentionHours: 24)
        var report = FieldReportStoreTests.report(7)
        report.commandId = "c1"
        #expect(try store.append(report))
        var again = report
        again.commandId = "c2"
        #expect(try !store.append(again))
        #expect(store.all.count == 1 && store.contains(reportId: report.reportId))
        let reopened = try FieldReportStore(path: path, retentionHours: 24)
        #expect(try !reopened.append(report))
        #expect(reopened.all.map(\.commandId) == ["c1"])
    }
}
