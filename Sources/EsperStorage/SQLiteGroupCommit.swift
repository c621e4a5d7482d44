import Foundation

/// Transactions from many threads committed together: each caller's work runs in the next
/// commit of the group (inside its own savepoint, so one caller's failure — a UNIQUE
/// conflict — undoes only its own writes) and the caller learns its outcome only once that
/// commit is on disk (`SQLiteDatabase.transaction(durable: true)`). One thread at a time
/// commits; callers arriving meanwhile go in the next commit together, so a sync to disk
/// serves all of them instead of one each. A caller's answer can therefore promise its write
/// survives a crash, a power loss included, at the cost of one sync per group.
///
/// Two ways in: `transaction` blocks its thread until the commit (the first caller to find no
/// commit in progress leads it), `submit` returns at once and calls back from the committer
/// thread — so an HTTP server can park the request instead of holding a pool thread, and a
/// group is as large as the number of requests waiting rather than the number of threads.
public final class SQLiteGroupCommit: Sendable {
    let database: SQLiteDatabase
    private let state = State()

    /// One caller's work and what became of it (written by the committer before `done`).
    private final class Member: @unchecked Sendable {
        let work: (SQLiteDatabase.Transaction) throws -> Void
        /// Called once the group's commit is on disk (or failed); nil for blocking callers.
        let completion: (@Sendable (Member) -> Void)?
        var done = false
        var failure: (any Error)?
        init(_ work: @escaping (SQLiteDatabase.Transaction) throws -> Void, completion: (@Sendable (Member) -> Void)? = nil) {
            self.work = work
            self.completion = completion
        }
    }

    /// Callers waiting for the next commit; guarded by `condition`.
    private final class State: @unchecked Sendable {
        let condition = NSCondition()
        var waiting: [Member] = []
        var committing = false
        /// Whether the committer thread of `submit` runs (started by the first submit).
        var committer = false
        var stopping = false
        /// Commits made and callers served (for tests and the log).
        var commits = 0
        var members = 0
        /// The largest group so far.
        var largest = 0
    }

    public init(database: SQLiteDatabase) {
        self.database = database
    }

    deinit {
        state.condition.lock()
        state.stopping = true
        state.condition.broadcast()
        state.condition.unlock()
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
            let group = SQLiteGroupCommit.takeGroup(state)
            condition.unlock()
            SQLiteGroupCommit.commit(group, database: database, state: state)
            condition.lock()
        }
        condition.unlock()
        if let failure = member.failure { throw failure }
        guard let result else { throw StorageError(path: database.path, reason: "group commit lost a result") }
        return result
    }

    /// Runs `work` in the group's next commit without waiting for it: `completion` gets the
    /// result once the commit is on disk (or the error, with the work's writes undone), on
    /// the committer thread — it must be quick and must not call back into this group.
    public func submit<T>(
        _ work: @escaping (SQLiteDatabase.Transaction) throws -> T, completion: @escaping @Sendable (Result<T, any Error>) -> Void
    ) {
        nonisolated(unsafe) var result: T?
        let member = Member(
            { transaction in result = try work(transaction) },
            completion: { member in
                if let failure = member.failure {
                    completion(.failure(failure))
                } else if let value = result {
                    completion(.success(value))
                } else {
                    completion(.failure(StorageError(path: "group commit", reason: "group commit lost a result")))
                }
            })
        let condition = state.condition
        condition.lock()
        state.waiting.append(member)
        if !state.committer {
            state.committer = true
            let (database, state) = (database, state)
            let thread = Thread { SQLiteGroupCommit.commitLoop(database: database, state: state) }
            thread.name = "sqlite-group-commit"
            thread.start()
        }
        condition.broadcast()
        condition.unlock()
    }

    /// The committer thread of `submit`: commits whatever waits whenever no commit is in
    /// progress (a blocking caller may lead one meanwhile); ends when the group is gone.
    private static func commitLoop(database: SQLiteDatabase, state: State) {
        let condition = state.condition
        condition.lock()
        while true {
            while (state.waiting.isEmpty || state.committing) && !state.stopping { condition.wait() }
            if state.waiting.isEmpty && state.stopping { break }
            if state.committing {
                condition.wait()
                continue
            }
            let group = takeGroup(state)
            condition.unlock()
            commit(group, database: database, state: state)
            condition.lock()
        }
        state.committer = false
        condition.unlock()
    }

    /// Takes every waiting caller for a commit (the lock held).
    private static func takeGroup(_ state: State) -> [Member] {
        state.committing = true
        let group = state.waiting
        state.waiting = []
        return group
    }

    /// Commits a group (the lock not held), marks it done and wakes everyone waiting; the
    /// completions of `submit` run after, outside the lock.
    private static func commit(_ group: [Member], database: SQLiteDatabase, state: State) {
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
        state.condition.lock()
        for member in group { member.done = true }
        state.committing = false
        state.commits += 1
        state.members += group.count
        state.largest = max(state.largest, group.count)
        state.condition.broadcast()
        state.condition.unlock()
        for member in group { member.completion?(member) }
    }

    /// Commits made and callers served so far.
    public var counts: (commits: Int, members: Int) {
        state.condition.lock()
        defer { state.condition.unlock() }
        return (state.commits, state.members)
    }

    /// The most callers one commit has served so far.
    public var largestGroup: Int {
        state.condition.lock()
        defer { state.condition.unlock() }
        return state.largest
    }
}
