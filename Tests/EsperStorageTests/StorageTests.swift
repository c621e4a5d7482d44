import EsperStorage
import EsperTestSupport
import Foundation
import Testing

@Suite struct ChecksumTests {
    @Test func knownDigests() {
        #expect(Checksum.sha256Hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Checksum.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}

@Suite struct AtomicFileTests {
    @Test func writesReadsAndReplaces() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/a/b/file.json"
        #expect(try AtomicFile.read(path) == nil)
        try AtomicFile.write(Array("one".utf8), to: path)
        try AtomicFile.write(Array("two".utf8), to: path)
        #expect(try AtomicFile.read(path) == Array("two".utf8))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path + "/a/b")
        #expect(leftovers == ["file.json"])
    }

    @Test func checksummedFileDetectsCorruption() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/state.json"
        try ChecksummedFile.write(Array(#"{"epoch":3}"#.utf8), to: path)
        #expect(try ChecksummedFile.read(path) == Array(#"{"epoch":3}"#.utf8))
        var bytes = try #require(try AtomicFile.read(path))
        bytes[3] ^= 0x01
        try AtomicFile.write(bytes, to: path)
        #expect(throws: ChecksummedFile.ReadError.self) { try ChecksummedFile.read(path) }
        try AtomicFile.write(Array(#"{"epoch":3}"#.utf8), to: path)
        #expect(throws: ChecksummedFile.ReadError.self) { try ChecksummedFile.read(path) }
        #expect(try ChecksummedFile.read(dir.path + "/missing") == nil)
    }
}

@Suite struct AppendOnlyLogTests {
    @Test func appendsAndReadsBack() throws {
        let dir = TemporaryDirectory()
        let log = try AppendOnlyLog(path: dir.path + "/log/reports.log")
        try log.append(Array(#"{"n":1}"#.utf8))
        try log.append(Array(#"{"n":2}"#.utf8))
        #expect(throws: StorageError.self) { try log.append(Array("a\nb".utf8)) }
        let contents = try log.read()
        #expect(contents.records.map { String(decoding: $0, as: UTF8.self) } == [#"{"n":1}"#, #"{"n":2}"#])
        #expect(contents.skipped == 0)
    }

    @Test func tornTailIsIgnoredAndCutOnReopen() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/reports.log"
        do {
            let log = try AppendOnlyLog(path: path)
            try log.append(Array(#"{"n":1}"#.utf8))
        }
        // A crash mid-append leaves a partial line.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("deadbeef {\"n\":".utf8))
        handle.closeFile()
        let reopened = try AppendOnlyLog(path: path)
        try reopened.append(Array(#"{"n":3}"#.utf8))
        let contents = try reopened.read()
        #expect(contents.records.map { String(decoding: $0, as: UTF8.self) } == [#"{"n":1}"#, #"{"n":3}"#])
        #expect(contents.skipped == 0)
    }

    @Test func corruptLineIsSkippedAndRewriteKeepsOnlyGivenRecords() throws {
        let dir = TemporaryDirectory()
        let path = dir.path + "/reports.log"
        let log = try AppendOnlyLog(path: path)
        for n in 1...3 { try log.append(Array("{\"n\":\(n)}".utf8)) }
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "{\"n\":2}", with: "{\"n\":9}")
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        let contents = try log.read()
        #expect(contents.records.count == 2)
        #expect(contents.skipped == 1)
        try log.rewrite(Array(contents.records.suffix(1)))
        try log.append(Array(#"{"n":4}"#.utf8))
        #expect(try log.read().records.map { String(decoding: $0, as: UTF8.self) } == [#"{"n":3}"#, #"{"n":4}"#])
    }
}

@Suite struct SQLiteDatabaseTests {
    @Test func storesAndQueries() throws {
        let dir = TemporaryDirectory()
        let db = try SQLiteDatabase(path: dir.path + "/runs.db")
        try db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, epoch INTEGER, loss REAL, config BLOB, note TEXT)")
        try db.query("INSERT INTO runs VALUES (?, ?, ?, ?, ?)", [.text("r1"), .integer(3), .real(0.25), .blob([1, 2]), .null])
        let rows = try db.query("SELECT * FROM runs WHERE id = ?", ["r1"])
        #expect(rows.count == 1)
        #expect(rows[0]["epoch"] == .integer(3))
        #expect(rows[0]["loss"].double == 0.25)
        #expect(rows[0]["config"] == .blob([1, 2]))
        #expect(rows[0]["note"] == .null)
        #expect(throws: StorageError.self) { try db.query("SELEKT 1") }
    }

    @Test func transactionsRollBackOnError() throws {
        let dir = TemporaryDirectory()
        let db = try SQLiteDatabase(path: dir.path + "/t.db")
        try db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        struct Stop: Error {}
        #expect(throws: Stop.self) {
            try db.transaction { tx in
                try tx.query("INSERT INTO t VALUES (1)")
                throw Stop()
            }
        }
        #expect(try db.query("SELECT COUNT(*) AS n FROM t")[0]["n"] == .integer(0))
        try db.transaction { tx in try tx.query("INSERT INTO t VALUES (2)") }
        let reopened = try SQLiteDatabase(path: dir.path + "/t.db")
        #expect(try reopened.query("SELECT k FROM t")[0]["k"] == .integer(2))
    }
}
