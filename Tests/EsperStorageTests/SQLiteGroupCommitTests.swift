import EsperStorage
import EsperTestSupport
import Foundation
import Synchronization
import Testing

/// Commits shared by concurrent callers: each caller's writes are in the database when it
/// returns (a reopened file has them), a caller whose work fails leaves nothing and takes
/// nobody else's writes with it, and reading connections see every returned commit.
@Suite struct SQLiteGroupCommitTests {
    @Test func concurrentCallersAllCommitAndAFailureUndoesOnlyItsOwnWrites() throws {
        let dir = TemporaryDirectory()
        let db = try SQLiteDatabase(path: dir.path + "/g.db", readers: 2)
        try db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, thread INTEGER); CREATE TABLE side (k TEXT)")
        let group = SQLiteGroupCommit(database: db)
        struct Refused: Error {}
        let threads = 8
        let perThread = 25
        let outcomes = Mutex<[String: Bool]>([:])
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for n in 0..<perThread {
                // Every fifth caller of a thread uses a key all threads insert (only the first
                // succeeds); two of those fail on their own after writing. A failed caller's
                // side row must not stay; everyone else's must.
                let key = n % 5 == 0 ? "shared-\(n)" : "t\(thread)-\(n)"
                do {
                    try group.transaction { tx in
                        try tx.query("INSERT INTO side VALUES (?)", [.text("\(thread)-\(n)")])
                        try tx.query("INSERT INTO t VALUES (?, ?)", [.text(key), .integer(Int64(thread))])
                        if n % 10 == 5 { throw Refused() }
                    }
                    outcomes.withLock { $0["\(thread)-\(n)"] = true }
                } catch {
                    outcomes.withLock { $0["\(thread)-\(n)"] = false }
                }
                // What returned is visible to a reader at once.
                if outcomes.withLock({ $0["\(thread)-\(n)"] }) == true {
                    let seen = try? db.read { try $0.query("SELECT thread FROM t WHERE k = ?", [.text(key)]) }
                    #expect(seen?.count == 1)
                }
            }
        }
        let committed = outcomes.withLock { $0 }.filter(\.value).map(\.key)
        let reopened = try SQLiteDatabase(path: dir.path + "/g.db")
        let sides = Set(try reopened.query("SELECT k FROM side").compactMap { $0["k"].string })
        #expect(sides == Set(committed))
        // Shared keys (n = 0, 5, 10, 15, 20): n = 5 and 15 always refuse after inserting, so
        // only 0, 10 and 20 stay, each once (the first caller; the others' UNIQUE failures undone).
        let shared = try reopened.query("SELECT k FROM t WHERE k LIKE 'shared-%' ORDER BY k").compactMap { $0["k"].string }
        #expect(shared == ["shared-0", "shared-10", "shared-20"])
        let own = try reopened.query("SELECT COUNT(*) AS n FROM t WHERE k NOT LIKE 'shared-%'")[0]["n"].int
        #expect(own == Int64(threads * perThread * 4 / 5))
        #expect(committed.count == Int(own ?? 0) + shared.count)
        let counts = group.counts
        #expect(counts.members == threads * perThread && counts.commits >= 1 && counts.commits <= counts.members)
    }

    @Test func aStatementRunAgainInsideItsOwnRowLoopAndReadsOnASnapshot() throws {
        let dir = TemporaryDirectory()
        let db = try SQLiteDatabase(path: dir.path + "/s.db", readers: 1)
        try db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
        for k in 1...3 { try db.query("INSERT INTO t VALUES (?, ?)", [.integer(Int64(k)), .text("v\(k)")]) }
        var pairs: [String] = []
        try db.read { snapshot in
            try snapshot.forEachRow("SELECT k, v FROM t ORDER BY k") { row in
                // The same SQL again while its first run is mid-way: a statement of its own.
                let count = try snapshot.query("SELECT k, v FROM t ORDER BY k").count
                let text = row.withText(1) { String(decoding: $0, as: UTF8.self) }
                pairs.append("\(row.int(0) ?? -1)=\(text ?? "nil")/\(count)")
                #expect(row.isNull(1) == false)
            }
        }
        #expect(pairs == ["1=v1/3", "2=v2/3", "3=v3/3"])
        // Reused statements see later writes; a reader is read-only.
        try db.query("INSERT INTO t VALUES (4, NULL)")
        let last = try db.read { snapshot in try snapshot.query("SELECT k, v FROM t ORDER BY k") }
        #expect(last.count == 4 && last[3]["v"] == .null)
        #expect(throws: (any Error).self) { try db.read { try $0.query("DELETE FROM t") } }
    }

    /// `submit` returns at once and calls back once the run's commit is on disk: callers
    /// queued behind a commit in progress all go in the next one (one sync for all of them,
    /// however few threads submitted them), and a failure undoes only its own writes.
    @Test func submittedWorkWaitingBehindACommitGoesInOneGroupAndCompletesAfterIt() throws {
        let dir = TemporaryDirectory()
        let db = try SQLiteDatabase(path: dir.path + "/a.db", readers: 1)
        try db.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
        let group = SQLiteGroupCommit(database: db)
        let started = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let outcomes = Mutex<[String: Bool]>([:])
        let finished = DispatchGroup()
        // The first commit holds the committer until everyone else is waiting.
        finished.enter()
        group.submit({ tx in
            started.signal()
            gate.wait()
            try tx.query("INSERT INTO t VALUES ('first')")
        }) { result in
            outcomes.withLock { $0["first"] = (try? result.get()) != nil }
            finished.leave()
        }
        started.wait()
        let others = 40
        for n in 0..<others {
            finished.enter()
            let key = n == 7 ? "first" : "k\(n)"  // a UNIQUE conflict: only this one fails
            group.submit({ tx -> Int in
                try tx.query("INSERT INTO t VALUES (?)", [.text(key)])
                return n
            }) { result in
                // Committed before the callback: a reader sees it.
                let value = try? result.get()
                if value != nil {
                    let seen = try? db.read { try $0.query("SELECT k FROM t WHERE k = ?", [.text(key)]) }
                    #expect(seen?.count == 1)
                }
                outcomes.withLock { $0["\(n)"] = value == n }
                finished.leave()
            }
        }
        gate.signal()
        finished.wait()
        let got = outcomes.withLock { $0 }
        #expect(got["first"] == true)
        #expect(got["7"] == false)
        #expect(got.filter(\.value).count == others)
        #expect(group.counts.commits == 2)
        #expect(group.counts.members == others + 1)
        #expect(group.largestGroup == others)
        let reopened = try SQLiteDatabase(path: dir.path + "/a.db")
        #expect(try reopened.query("SELECT COUNT(*) AS n FROM t")[0]["n"].int == Int64(others))
    }
}
