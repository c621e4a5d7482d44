import Foundation

/// Transactions from many threads committed together: each caller's work runs in the next
/// commit of the group (inside its own savepoint, so one caller's failure — a UNIQUE
/// conflict — undoes only its own writes) and the caller returns only once that commit is
/// on disk (`SQLiteDatabase.transaction(durable: true)`). One thread at a time commits (the
/// leader: the first caller to find no commit in progress); callers arriving meanwhile wait
/// and go in the next commit together, so a sync to disk serves all of them instead of one
/// each. A caller's answer can therefore promise its write survives a crash, a power loss
/// included, at the cost of one sync per group.
public final class SQLiteGroupCommit: Sendable {
    let database: SQLiteDatabase
    private let state = State()

    /// One caller's work and what became of it (written by the leader before `done`).
    private final class Member: @unchecked Sendable {
        let work: (SQLiteDatabase.Transaction) throws -> Void
        var done = false
        var failure: (any Error)?
        init(_ work: @escaping (SQLiteDatabase.Transaction) throws -> Void) { self.work = work }
    }

    /// Callers waiting for the next commit; guarded by `condition`.
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var waiting: [Member] = []
        var committing = false
        /// Commits made and callers served (for tests and the log).
        var commits = 0
        var members = 0
    }

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    /// Runs `work` in the group's next commit and returns its result once committed and
    /// synced; its error (or the commit's) otherwise, with its writes undone.
    public func transaction<T>(_ work: @escaping (SQLiteDatabase.Transaction) throws -> T) throws -> T {
        var result: T?
        let member = Member { transaction in result = try work(transaction) }
        let condition = state.condition
        condition.lock()
        state.waiting.append(member)
        while !member.done {
            if state.committing {
                condition.wait()
                continue
            }
            // Leader: commit everyone waiting (this caller included).
            state.committing = true
            let group = state.waiting
            state.waiting = []
            condition.unlock()
            commit(group)
            condition.lock()
            for waiter in group { waiter.done = true }
            state.committing = false
            state.commits += 1
            state.members += group.count
            condition.broadcast()
        }
        condition.unlock()
        if let failure = member.failure { throw failure }
        guard let result else { throw StorageError(path: database.path, reason: "group commit lost a result") }
        return result
    }

    /// Commits made and callers served so far.
    public var counts: (commits: Int, members: Int) {
        state.condition.lock()
        defer { state.condition.unlock() }
        return (state.commits, state.members)
    }

    private func commit(_ group: [Member]) {
        do {
            try database.transaction(durable: true) { transaction in
                for member in group {
                    try transaction.query("SAVEPOINT member")
                    do {
                        try member.work(transaction)
                        try transaction.query("RELEASE member")
                    } catch {
                        member.failure = error
                        try transaction.query("ROLLBACK TO member")
                        try transaction.query("RELEASE member")
                    }
                }
            }
        } catch {
            // The commit itself failed: nothing of the group was written.
            for member in group { member.failure = error }
        }
    }
}
