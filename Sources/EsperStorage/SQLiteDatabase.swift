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

/// A SQLite database file in WAL mode (readers do not block the writer; a crash never
/// corrupts it). One connection, serialised by a mutex: our writes are small and rare.
public final class SQLiteDatabase: Sendable {
    public let path: String
    private let handle: Mutex<Connection>

    struct Connection: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    public init(path: String) throws(StorageError) {
        self.path = path
        try AtomicFile.createDirectory(AtomicFile.parentDirectory(of: path))
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX
        guard sqlite3_open_v2(path, &db, flags, nil) == SQLITE_OK, let db else {
            let reason = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close(db) }
            throw StorageError(path: path, reason: reason)
        }
        sqlite3_busy_timeout(db, 5000)
        handle = Mutex(Connection(pointer: db))
        try execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
    }

    deinit { handle.withLock { _ = sqlite3_close_v2($0.pointer) } }

    /// Runs one or more statements without parameters (schema, pragmas).
    public func execute(_ sql: String) throws(StorageError) {
        try handle.withLock { (connection: inout Connection) throws(StorageError) in
            var message: UnsafeMutablePointer<CChar>?
            if sqlite3_exec(connection.pointer, sql, nil, nil, &message) != SQLITE_OK {
                let reason = message.map { String(cString: $0) } ?? "error"
                sqlite3_free(message)
                throw StorageError(path: path, reason: reason)
            }
        }
    }

    /// Runs a statement with `?` parameters; returns the rows (empty for writes).
    @discardableResult
    public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(StorageError) -> [SQLiteRow] {
        try handle.withLock { (connection: inout Connection) throws(StorageError) in
            try SQLiteDatabase.run(connection.pointer, sql, parameters, path: path)
        }
    }

    /// Runs `body` in one transaction (`BEGIN IMMEDIATE` … `COMMIT`, rolled back on error).
    @discardableResult
    public func transaction<T>(_ body: (Transaction) throws -> T) throws -> T {
        try handle.withLock { (connection: inout Connection) throws -> T in
            _ = try SQLiteDatabase.run(connection.pointer, "BEGIN IMMEDIATE", [], path: path)
            do {
                let result = try body(Transaction(pointer: connection.pointer, path: path))
                _ = try SQLiteDatabase.run(connection.pointer, "COMMIT", [], path: path)
                return result
            } catch {
                _ = try? SQLiteDatabase.run(connection.pointer, "ROLLBACK", [], path: path)
                throw error
            }
        }
    }

    /// Statements inside `transaction`.
    public struct Transaction {
        let pointer: OpaquePointer
        let path: String
        @discardableResult
        public func query(_ sql: String, _ parameters: [SQLiteValue] = []) throws(StorageError) -> [SQLiteRow] {
            try SQLiteDatabase.run(pointer, sql, parameters, path: path)
        }
    }

    static func run(_ db: OpaquePointer, _ sql: String, _ parameters: [SQLiteValue], path: String) throws(StorageError) -> [SQLiteRow] {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw StorageError(path: path, reason: "\(String(cString: sqlite3_errmsg(db))) in: \(sql)")
        }
        defer { sqlite3_finalize(statement) }
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
        var rows: [SQLiteRow] = []
        while true {
            let step = sqlite3_step(statement)
            if step == SQLITE_DONE { break }
            guard step == SQLITE_ROW else {
                throw StorageError(path: path, reason: "\(String(cString: sqlite3_errmsg(db))) in: \(sql)")
            }
            var values: [String: SQLiteValue] = [:]
            for column in 0..<sqlite3_column_count(statement) {
                let name = String(cString: sqlite3_column_name(statement, column))
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
