import EsperAPI
import EsperStorage
import Foundation
import Logging
import Oona
import Prometheus
import Synchronization

/// What `/healthz` says about the data directory, checked for real and in the background (the
/// probe answers from memory):
/// - `storage`: every `ESPER_STORAGE_CHECK_S` a probe file is written (64 KiB), fsynced and
///   removed — `access(W_OK)` says yes on a full disk, this does not;
/// - `integrity`: `PRAGMA quick_check` of every SQLite file one level below the data
///   directory (`tolaria/runs.db`, `nissa/nissa.db`, …) at start and every
///   `ESPER_INTEGRITY_CHECK_S`. A damaged file is named with what SQLite found (the table or
///   index of each damaged tree, the rows missing from an index) in the log and at `/healthz`;
///   the server keeps serving what it can read.
final class StorageMonitor: Sendable {
    struct Findings: Sendable {
        var storage: HealthCheckResult
        var integrity: HealthCheckResult
    }

    private let dataDirectory: String
    private let storageInterval: Double
    private let integrityInterval: Double
    private let logger: Logger
    private let state: Mutex<Findings>
    private let thread = BackgroundThread(name: "esper-storage-monitor")
    private let writeFailures: Counter
    private let integrityProblems: Gauge
    static let probeBytes = 64 * 1024

    init(dataDirectory: String, storageInterval: Double, integrityInterval: Double, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.dataDirectory = dataDirectory
        self.storageInterval = storageInterval
        self.integrityInterval = integrityInterval
        self.logger = logger
        state = Mutex(
            Findings(
                storage: HealthCheckResult(status: .ok, detail: "\(dataDirectory): not checked yet"),
                integrity: HealthCheckResult(status: .ok, detail: "not checked yet")))
        writeFailures = registry.makeCounter(
            descriptor: MetricNameDescriptor(
                metricName: "esper_storage_write_check_failures_total", unitName: "",
                helpText: "Storage write checks (write, fsync, remove a probe file) that failed."))
        integrityProblems = registry.makeGauge(
            descriptor: MetricNameDescriptor(
                metricName: "esper_storage_integrity_problems", unitName: "",
                helpText: "SQLite files of the data directory whose last quick_check found damage."))
    }

    var storage: HealthCheckResult { state.withLock { $0.storage } }
    var integrity: HealthCheckResult { state.withLock { $0.integrity } }

    /// Runs both checks once (inline, so the start's log has them) and then on their schedules.
    func start() {
        guard !thread.isRunning else { return }
        checkStorage()
        checkIntegrity()
        thread.start { [self] stop in loop(until: stop) }
    }

    func stop() { thread.stop() }

    private func loop(until stop: StopSignal) {
        var nextStorage = Date().addingTimeInterval(storageInterval)
        var nextIntegrity = Date().addingTimeInterval(integrityInterval)
        while !stop.wait(.milliseconds(50)) {
            let now = Date()
            if now >= nextStorage {
                checkStorage()
                nextStorage = now.addingTimeInterval(storageInterval)
            }
            if now >= nextIntegrity {
                checkIntegrity()
                nextIntegrity = now.addingTimeInterval(integrityInterval)
            }
        }
    }

    // MARK: storage

    func checkStorage() {
        let result: HealthCheckResult
        if let failure = StorageMonitor.writeProbe(directory: dataDirectory) {
            writeFailures.increment()
            result = HealthCheckResult(status: .degraded, detail: "\(dataDirectory): \(failure)")
        } else {
            result = HealthCheckResult(
                status: .ok, detail: "\(dataDirectory) writable (\(StorageMonitor.probeBytes) bytes written and fsynced)")
        }
        let changed = state.withLock { findings -> Bool in
            defer { findings.storage = result }
            return findings.storage.status != result.status
        }
        if changed {
            if result.status == .ok {
                logger.notice("storage writable again", metadata: ["directory": "\(dataDirectory)"])
            } else {
                logger.error("storage write check failed", metadata: ["directory": "\(dataDirectory)", "error": "\(result.detail)"])
            }
        }
    }

    /// nil when a probe file could be written, fsynced and removed; else why not.
    static func writeProbe(directory: String) -> String? {
        let path = directory + "/.esper-storage-check"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return "cannot create a file: \(String(cString: strerror(errno)))" }
        defer {
            close(fd)
            unlink(path)
        }
        let bytes = [UInt8](repeating: 0x5A, count: probeBytes)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                return "cannot write: \(String(cString: strerror(errno)))"
            }
            offset += written
        }
        guard fsync(fd) == 0 else { return "cannot fsync: \(String(cString: strerror(errno)))" }
        return nil
    }

    // MARK: integrity

    /// The SQLite files one level below the data directory, sorted.
    func databaseFiles() -> [String] {
        let manager = FileManager.default
        guard let entries = try? manager.contentsOfDirectory(atPath: dataDirectory) else { return [] }
        var files: [String] = []
        for entry in entries.sorted() {
            let directory = dataDirectory + "/" + entry
            guard let inner = try? manager.contentsOfDirectory(atPath: directory) else { continue }
            files += inner.filter { $0.hasSuffix(".db") }.sorted().map { directory + "/" + $0 }
        }
        return files
    }

    func checkIntegrity() {
        let files = databaseFiles()
        var damaged: [String] = []
        for file in files {
            let findings = StorageMonitor.quickCheck(file)
            guard !findings.isEmpty else { continue }
            let relative = String(file.dropFirst(dataDirectory.count + 1))
            damaged.append("\(relative): \(findings.prefix(5).joined(separator: "; "))")
            logger.error(
                "SQLite integrity check failed: the file is damaged",
                metadata: ["file": "\(file)", "findings": "\(findings.joined(separator: "; "))"])
        }
        integrityProblems.set(Double(damaged.count))
        let result =
            damaged.isEmpty
            ? HealthCheckResult(status: .ok, detail: "quick_check ok on \(files.count) SQLite file(s)")
            : HealthCheckResult(status: .degraded, detail: "damaged: " + damaged.joined(separator: " | "))
        state.withLock { $0.integrity = result }
    }

    /// `PRAGMA quick_check` on its own connection; each "Tree N page …" finding is given the
    /// name of the table or index whose root page N is, when the schema can still be read.
    static func quickCheck(_ path: String) -> [String] {
        let database: SQLiteDatabase
        do {
            database = try SQLiteDatabase(path: path)
        } catch {
            return [error.reason]
        }
        let findings = database.quickCheck()
        guard !findings.isEmpty else { return [] }
        var names: [Int64: String] = [:]
        if let rows = try? database.query("SELECT type, name, rootpage FROM sqlite_master WHERE rootpage > 0") {
            for row in rows {
                if let page = row["rootpage"].int { names[page] = "\(row["type"].string ?? "") \(row["name"].string ?? "")" }
            }
        }
        let lines: [String] = findings.flatMap { $0.split(separator: "\n").map(String.init) }
        let named: [String] = lines.filter { !$0.hasPrefix("*** in database") }.map { (finding: String) -> String in
            // "Tree 5 page 7 cell 2: …" / "Page 5: …" → with "(table runs)" when 5 is a root page.
            let parts = finding.split(separator: " ", maxSplits: 2)
            guard parts.count == 3, parts[0] == "Tree" || parts[0] == "Page",
                let root = Int64(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: ":"))), let name = names[root]
            else { return finding }
            return "\(parts[0]) \(root) (\(name)) \(parts[2])"
        }
        // The rows first: they say what a reader will miss.
        return damagedRows(database, tables: names.values.filter { $0.hasPrefix("table ") }.map { String($0.dropFirst(6)) }.sorted())
            + named
    }

    /// Which rows of each table cannot be read (at most 20 named per table, 100,000 rows
    /// probed in all): the ids a GET would answer with 500 for.
    static func damagedRows(_ database: SQLiteDatabase, tables: [String]) -> [String] {
        var found: [String] = []
        var budget = 100_000
        for table in tables where !table.hasPrefix("sqlite_") && budget > 0 {
            let quoted = "\"" + table.replacingOccurrences(of: "\"", with: "\"\"") + "\""
            var rowids: [Int64] = []
            var scanError: String?
            do {
                rowids = try database.query("SELECT rowid AS r FROM \(quoted) LIMIT \(budget)").compactMap { $0["r"].int }
            } catch {
                scanError = error.reason
            }
            var bad: [Int64] = []
            var reason = scanError ?? ""
            for rowid in rowids {
                budget -= 1
                do {
                    _ = try database.query("SELECT * FROM \(quoted) WHERE rowid = ?", [.integer(rowid)])
                } catch {
                    bad.append(rowid)
                    reason = error.reason
                }
            }
            if !bad.isEmpty {
                let listed = bad.prefix(20).map(String.init).joined(separator: ", ")
                found.append("table \(table): rowid \(listed)\(bad.count > 20 ? " and \(bad.count - 20) more" : "") unreadable (\(reason))")
            } else if let scanError {
                found.append("table \(table): cannot be read in full (\(scanError))")
            }
        }
        return found
    }
}

extension StorageMonitor: LongRunningService {
    var name: String { "storage-monitor" }

    var health: ServiceHealth {
        let findings = state.withLock { $0 }
        let healthy = findings.storage.status == .ok && findings.integrity.status == .ok
        return ServiceHealth(healthy: healthy, detail: "\(findings.storage.detail); \(findings.integrity.detail)")
    }
}
