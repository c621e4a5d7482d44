internal import CSQLite
import Synchronization

/// A value in or out of SQLite.
public enum SQLiteValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var int: Int64? { if case .integer(let v) = self { v } else { nil } }
    public var double: Double? {
        switch self {
        case .real(let v): v
        case .integer(let v): Double(v)
        default: nil
        }
    }
    public var string: String? { if case .text(let v) = self { v } else { nil } }
    public var bytes: [UInt8]? { if case .blob(let v) = self { v } else { nil } }
}

extension SQLiteValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(floatLiteral value: Double) { self = .real(value) }
    public init(nilLiteral: ()) { self = .null }
}

/// One row of a result, by column name.
public struct SQLiteRow: Sendable {
    public let values: [String: SQLiteValue]
    public subscript(_ column: String) -> SQLiteValue { values[column] ?? .null }
}

/// The current row of a statement being stepped (`SQLiteDatabase.forEachRow`), read by
/// column index without building a row: valid only inside the body it is passed to.
public struct SQLiteStatementRow {
    let statement: OpaquePointer

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    public func int(_ column: Int32) -> Int64? { isNull(column) ? nil : sqlite3_column_int64(statement, column) }

    public func text(_ column: Int32) -> String? {
        guard !isNull(column), let text = sqlite3_column_text(statement, column) else { return nil }
        return String(cString: text)
    }

    /// The column's text as SQLite holds it (no `String` made); nil when it is NULL.
    public func withText<R>(_ column: Int32, _ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
        guard !isNull(column), let text = sqlite3_column_text(statement, column) else { return nil }
        return try body(UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))))
    }
}

/// A SQLite database file in WAL mode (readers do not block the writer; a crash never
/// corrupts it). One writing connection, serialised by a mutex; optionally `readers` more
/// connections that only read, so concurrent reads (the API's) neither wait for each other
/// nor for a write. Statements are prepared once per connection and kept (by their SQL).
public final class SQLiteDatabase: Sendable {
    public let path: String
    private let handle: Mutex<Connection>
    private let readers: [Reader]
    private let nextReader = Atomic<Int>(0)

    /// A connection and its prepared statements (only used under its mutex).
    final class Connection: @unchecked Sendable {
        let pointer: OpaquePointer
        /// Prepared statements by SQL; one in use is taken out, so a statement run again
        /// from inside its own row loop gets a fresh one.
        private var statements: [String: OpaquePointer] = [:]
        static let maxStatements = 64

        init(pointer: OpaquePointer) { self.pointer = pointer }

        func take(_ sql: String, path: String) throws(StorageError) -> OpaquePointer {
            if let statement = statements.removeValue(forKey: sql) { return statement }
            var statement: OpaquePointer?
            guard sqlite3_prepare_v2(pointer, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
                throw StorageError(path: path, reason: "\(String(cString: sqlite3_errmsg(pointer))) in: \(sql)")
            }
            return statement
        }

        /// Resets a statement after use and keeps it (unless the same SQL was kept meanwhile,
        /// or the cache is full: then it is finalized).
        func giveBack(_ sql: String, _ statement: OpaquePointer) {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)
            if statements[sql] == nil && statements.count < Connection.maxStatements {
                statements[sql] = statement
            } else {
                sqlite3_finalize(statement)
            }
        }

        func close() {
            for statement in statements.values { sqlite3_finalize(statement) }
            statements = [:]
            _ = sqlite3_close_v2(pointer)
        }
    }

    final class Reader: Sendable {
        let connection: Mutex<Connection>
        init(_ connection: Connection) { self.connection = Mutex(connection) }
    }

    /// How much of the file a reading connection maps instead of reading it with `pread`
    /// (SQLite's own ceiling on Linux is just under 2 GiB). A read then costs no system call
    /// and no copy of each page into the connection's cache — for the API's reads of a big
    /// registry that was most of a history request (and all connections share the kernel's
    /// pages instead of each caching copies). The writer keeps `pread`: an I/O error while
    /// writing stays an error, not a signal. What mapping costs: a read of a page the disk
    /// cannot deliver (a failing disk, a file truncated behind SQLite's back) is a SIGBUS
    /// instead of SQLITE_IOERR.
    static let readerMapBytes = 2_147_418_112

    /// `readers`: read-only connections for `read` (0: reads use the writing connection).
    public init(path: String, readers: Int = 0) throws(StorageError) {
        self.path = path
        try AtomicFile.createDirectory(AtomicFile.parentDirectory(of: path))
        let writer = try SQLiteDatabase.open(path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX)
        handle = Mutex(writer)
        // The writer switches the file to WAL first: readers opened after it share the WAL.
        do {
            try SQLiteDatabase.exec(
                writer.pointer, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", path: path)
        } catch {
            writer.close()
            throw error
        }
        var opened: [Reader] = []
        for _ in 0..<max(0, readers) {
            do {
                let reader = try SQLiteDatabase.open(path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX)
                opened.append(Reader(reader))
                try SQLiteDatabase.exec(
                    reader.pointer, "PRAGMA query_only=1; PRAGMA mmap_size=\(SQLiteDatabase.readerMapBytes);", path: path)
            } catch {
                for reader in opened { reader.connection.withLock { $0.close() } }
                writer.close()
                throw error
            }
        }
        self.readers = opened
    }

    private static func open(_ path: String, flags: Int32) throws(StorageError) -> Connection {
        var db: OpaquePointer?
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else {
            let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close(db) }
            throw StorageError(path: path, reason: reason)
        }
        sqlite3_busy_timeout(db, 5000)
        return Connection(pointer: db)
    }

    deinit {
        handle.withLock { $0.close() }
        for reader in readers { reader.connection.withLock { $0.close() } }
    }

    private static func exec(_ db: OpaquePointer, _ sql: String, path: String) throws(StorageError) {
        var message: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, sql, nil, nil, &message) != SQLITE_OK {
            let reason = message.map { String(cString: $0) } ?? "error"
            sqlite3_free(message)
            throw StorageError(path: path, reason: reason)
        }
    }

    /// Runs one or more statements without parameters (schema, pragmas).
    public func execute(_ sql: String) throws(StorageError) {
        try handle.withLock { (connection: inout Connection) throws(StorageError) in
            try SQLiteDatabase.exec(connection.pointer, sql, path: path)
        }
    }

    /// Runs a statement with `?` parameters; returns the rows (empty for writes).
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(StorageError) -> [SQLiteRow] {
        try handle.withLock { (connection: inout Connection) throws(StorageError) in
            try SQLiteDatabase.run(connection, sql, parameters, path: path)
        }
    }

    /// Runs `body` in one transaction (`BEGIN IMMEDIATE` … `COMMIT`, rolled back on error).
    /// `durable`: the commit is synced to disk before this returns (`synchronous=FULL` for
    /// this transaction), so not even a power loss takes it back; other commits are synced
    /// at checkpoints (WAL, `synchronous=NORMAL`: a crash of the process loses none of them).
    @discardableResult
    public func transaction<T>(durable: Bool = false, _ body: (Transaction) throws -> T) throws -> T {
        try handle.withLock { (connection: inout Connection) throws -> T in
            if durable { try SQLiteDatabase.exec(connection.pointer, "PRAGMA synchronous=FULL", path: path) }
            defer { if durable { try? SQLiteDatabase.exec(connection.pointer, "PRAGMA synchronous=NORMAL", path: path) } }
            _ = try SQLiteDatabase.run(connection, "BEGIN IMMEDIATE", [], path: path)
            do {
                let result = try body(Transaction(connection: connection, path: path))
                _ = try SQLiteDatabase.run(connection, "COMMIT", [], path: path)
                return result
            } catch {
                _ = try? SQLiteDatabase.run(connection, "ROLLBACK", [], path: path)
                throw error
            }
        }
    }

    /// Statements inside `transaction`.
    public struct Transaction {
        let connection: Connection
        let path: String
        @discardableResult
        public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(StorageError) -> [SQLiteRow] {
            try SQLiteDatabase.run(connection, sql, parameters, path: path)
        }
    }

    /// Reads inside `read`: one snapshot (a read transaction) for all of them.
    public struct Snapshot {
        let connection: Connection
        let path: String

        @discardableResult
        public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(StorageError) -> [SQLiteRow] {
            try SQLiteDatabase.run(connection, sql, parameters, path: path)
        }

        /// Steps through the rows, handing each to `body` (no row values built).
        public func forEachRow(_ sql: String, _ parameters: [SQLiteValue] = [], _ body: (SQLiteStatementRow) throws -> Void) throws {
            try SQLiteDatabase.step(connection, sql, parameters, path: path, body)
        }
    }

    /// Runs `body`'s reads on one snapshot of the database, on a reading connection (the
    /// writer's when there are none): reads on other threads go on at the same time.
    public func read<T>(_ body: (Snapshot) throws -> T) throws -> T {
        // The result goes out through a local, not as the lock's result (a generic value the
        // caller's closure made cannot be "sent" out of the lock).
        var result: T?
        func inSnapshot(_ connection: Connection) throws {
            _ = try SQLiteDatabase.run(connection, "BEGIN", [], path: path)
            defer { _ = try? SQLiteDatabase.run(connection, "COMMIT", [], path: path) }
            result = try body(Snapshot(connection: connection, path: path))
        }
        if readers.isEmpty {
            try handle.withLock { (connection: inout Connection) throws in try inSnapshot(connection) }
        } else {
            // A free reader if there is one; else wait for the next in turn.
            let first = nextReader.wrappingAdd(1, ordering: .relaxed).oldValue
            var done = false
            for offset in 0..<readers.count where !done {
                let reader = readers[(first &+ offset) % readers.count]
                done =
                    try reader.connection.withLockIfAvailable { (connection: inout Connection) throws in try inSnapshot(connection) }
                    != nil
            }
            if !done {
                try readers[first % readers.count].connection.withLock { (connection: inout Connection) throws in
                    try inSnapshot(connection)
                }
            }
        }
        guard let result else { throw StorageError(path: path, reason: "read gave no result") }
        return result
    }

    private static func bind(_ statement: OpaquePointer, _ parameters: [SQLiteValue]) {
        for (offset, value) in parameters.enumerated() {
            let index = Int32(offset + 1)
            switch value {
            case .null: sqlite3_bind_null(statement, index)
            case .integer(let v): sqlite3_bind_int64(statement, index, v)
            case .real(let v): sqlite3_bind_double(statement, index, v)
            case .text(let v): _ = esper_sqlite3_bind_text_transient(statement, index, v, -1)
            case .blob(let v):
                _ = v.withUnsafeBytes { esper_sqlite3_bind_blob_transient(statement, index, $0.baseAddress, Int32($0.count)) }
            }
        }
    }

    /// Prepares (or reuses), binds and steps a statement, handing each row to `body`.
    static func step(
        _ connection: Connection, _ sql: String, _ parameters: [SQLiteValue], path: String, _ body: (SQLiteStatementRow) throws -> Void
    ) throws {
        let statement = try connection.take(sql, path: path)
        defer { connection.giveBack(sql, statement) }
        bind(statement, parameters)
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { return }
            guard step == SQLITE_ROW else {
                throw StorageError(path: path, reason: "\(String(cString: sqlite3_errmsg(connection.pointer))) in: \(sql)")
            }
            try body(SQLiteStatementRow(statement: statement))
        }
    }

    static func run(_ connection: Connection, _ sql: String, _ parameters: [SQLiteValue], path: String) throws(StorageError) -> [SQLiteRow]
    {
        var rows: [SQLiteRow] = []
        var names: [String] = []
        do {
            try step(connection, sql, parameters, path: path) { row in
                let statement = row.statement
                if names.isEmpty {
                    names = (0..<sqlite3_column_count(statement)).map { String(cString: sqlite3_column_name(statement, $0)) }
                }
                var values: [String: SQLiteValue] = Dictionary(minimumCapacity: names.count)
                for (index, name) in names.enumerated() {
                    let column = Int32(index)
                    switch sqlite3_column_type(statement, column) {
                    case SQLITE_INTEGER: values[name] = .integer(sqlite3_column_int64(statement, column))
                    case SQLITE_FLOAT: values[name] = .real(sqlite3_column_double(statement, column))
                    case SQLITE_TEXT: values[name] = .text(String(cString: sqlite3_column_text(statement, column)))
                    case SQLITE_BLOB:
                        let count = Int(sqlite3_column_bytes(statement, column))
                        let pointer = sqlite3_column_blob(statement, column)
                        values[name] = .blob(count == 0 ? [] : Array(UnsafeRawBufferPointer(start: pointer, count: count)))
                    default: values[name] = .null
                    }
                }
                rows.append(SQLiteRow(values: values))
            }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(path: path, reason: "\(error)")
        }
        return rows
    }

    /// `PRAGMA quick_check` (at most `limit` findings): an empty answer means the file is
    /// sound; otherwise each finding names the damaged table, index or page as SQLite reports
    /// it. A file too damaged to read at all gives one finding with the error.
    public func quickCheck(limit: Int = 20) -> [String] {
        do {
            let rows = try query("PRAGMA quick_check(\(max(1, limit)))")
            let lines = rows.compactMap { $0.values.values.first?.string }
            return lines == ["ok"] ? [] : lines
        } catch {
            return [error.reason]
        }
    }

    /// Rows changed by the last write on this connection.
    public var changes: Int { handle.withLock { Int(sqlite3_changes($0.pointer)) } }
}
