import EsperJSON
import EsperStorage
import Foundation
public import Karn
public import KernelRuntime
import Synchronization

public import enum Leyline.BlueprintTier
// Urza: the blueprint and kernel library — which compiled artifact belongs to which blueprint.
// A SQLite catalog plus content-addressed artifact files, a crash-safe save (WAL), integrity
// checks that quarantine damaged files, and an LRU cache of decoded kernels that Kasmina
// fetches within a latency budget.
public import enum Leyline.RFC3339

/// Where Urza keeps its state, and its cache sizes.
public struct UrzaConfiguration: Sendable {
    /// `<data>/urza`: catalog.db, urza_wal.json, artifacts/, quarantine/.
    public var root: String
    /// Metadata records kept in memory (08 §3.4).
    public var metadataCacheSize = 128
    /// Decoded kernels kept in memory, in bytes (the design's 1 024 MB).
    public var kernelCacheBytes = 1 << 30
    /// A kernel unused this long is dropped on its next lookup.
    public var kernelIdleSeconds: Double = 3600
    /// A fetch slower than this is an error even if it succeeded (08 §2: 500 ms).
    public var hardTimeoutMs: Double = 500

    public init(root: String) { self.root = root }

    var databasePath: String { root + "/catalog.db" }
    var walPath: String { root + "/urza_wal.json" }
    var artifactsDirectory: String { root + "/artifacts" }
    var quarantineDirectory: String { root + "/quarantine" }
}

/// A kernel handed to a caller, and how long getting it took.
public struct KernelFetch: Sendable {
    public let kernel: CompiledKernel
    public let latencyMs: Double
    public let cacheHit: Bool
}

/// Counters for health reporting.
public struct UrzaStats: Sendable, Encodable {
    public var records: Int
    public var available: Int
    public var missing: Int
    public var corrupt: Int
    public var deprecated: Int
    public var metadataCacheEntries: Int
    public var kernelCacheEntries: Int
    public var kernelCacheBytes: Int
    public var cacheHits: Int
    public var cacheMisses: Int
    public var fallbacksToDefault: Int
    public var fallbacksToIdentity: Int
    public var walPending: Bool
}

public final class UrzaLibrary: Sendable {
    public let configuration: UrzaConfiguration
    let store: UrzaCatalogStore
    let catalog: KarnCatalog?
    let telemetry: any BlueprintTelemetry

    struct Caches {
        var metadata: MetadataCache
        var kernels: KernelCache
        var hits = 0
        var misses = 0
        var fallbacksToDefault = 0
        var fallbacksToIdentity = 0
    }

    let caches: Mutex<Caches>
    /// Saves run one at a time: the WAL holds one record.
    private let saveLock = Mutex(0)
    private let invalidHandler = Mutex<(@Sendable (String, String) -> Void)?>(nil)
    /// Blueprint id → why its artifact was last found missing or damaged (for the forge summary).
    private let invalidReasons = Mutex<[String: String]>([:])

    /// Opens (or creates) the library, replays an interrupted save from the WAL, removes files
    /// no row references, and warms the metadata cache. `catalog` supplies tiers a WAL record
    /// lacks (08 §3.6).
    public init(
        configuration: UrzaConfiguration, catalog: KarnCatalog? = nil,
        telemetry: any BlueprintTelemetry = InMemoryBlueprintTelemetry()
    ) throws(UrzaError) {
        self.configuration = configuration
        self.catalog = catalog
        self.telemetry = telemetry
        do {
            try AtomicFile.createDirectory(configuration.artifactsDirectory)
            try AtomicFile.createDirectory(configuration.quarantineDirectory)
            store = try UrzaCatalogStore(path: configuration.databasePath)
        } catch {
            throw UrzaError.storage("\(error)")
        }
        caches = Mutex(
            Caches(
                metadata: MetadataCache(capacity: configuration.metadataCacheSize),
                kernels: KernelCache(
                    byteBudget: configuration.kernelCacheBytes,
                    idleSeconds: configuration.kernelIdleSeconds)))
        try recoverWAL()
        collectGarbage()
        if let recent = try? store.list(tier: nil, stage: nil, quarantined: nil, state: nil, after: nil, limit: nil) {
            caches.withLock { caches in
                for record in recent.suffix(configuration.metadataCacheSize) { caches.metadata.put(record) }
            }
        }
    }

    /// Called with (blueprint id, reason) whenever an artifact is found missing or corrupt, so
    /// the forge can recompile it.
    public func onArtifactInvalid(_ handler: @escaping @Sendable (String, String) -> Void) {
        invalidHandler.withLock { $0 = handler }
    }

    // MARK: - Save

    /// Stores `artifactPath` as the current artifact of `descriptor`: verify it completely,
    /// copy it to `artifacts/<id>/<sha256>.esk` (atomic), write the WAL, upsert the row,
    /// update the caches, delete the WAL, remove the blueprint's superseded files.
    @discardableResult
    public func save(descriptor: BlueprintDescriptor, artifactPath: String) throws(UrzaError) -> UrzaRecord {
        try UrzaLibrary.checkStorableId(descriptor.blueprintId)
        let bytes: [UInt8]
        do {
            guard let read = try AtomicFile.read(artifactPath) else {
                throw UrzaError.invalidArtifact(artifactPath, "no such file")
            }
            bytes = read
        } catch let error as UrzaError {
            throw error
        } catch {
            throw UrzaError.storage("\(error)")
        }
        let artifact: KernelArtifact
        do {
            artifact = try KernelArtifact.decode(bytes)
        } catch {
            throw UrzaError.invalidArtifact(artifactPath, error.description)
        }
        guard artifact.blueprintId == descriptor.blueprintId else {
            throw UrzaError.invalidArtifact(artifactPath, "compiled for \(artifact.blueprintId), not \(descriptor.blueprintId)")
        }
        return try saveLock.withLock { transactions throws(UrzaError) -> UrzaRecord in
            let record = makeRecord(descriptor: descriptor, bytes: bytes, artifact: artifact)
            let destination = configuration.root + "/" + record.artifactPath
            do {
                if FileManager.default.fileSize(destination) != bytes.count {
                    try AtomicFile.write(bytes, to: destination)
                }
                let wal = UrzaWALEntry(
                    blueprintId: record.blueprintId, artifactPath: record.artifactPath,
                    artifactSha256: record.artifactSHA256, descriptor: descriptor)
                try AtomicFile.write(try JanssonEncoder().encode(wal), to: configuration.walPath)
                PausePoint.reach("urza.after_wal", blueprintId: record.blueprintId)
                try store.upsert(record)
            } catch {
                throw UrzaError.storage("\(error)")
            }
            cacheAfterSave(record)
            PausePoint.reach("urza.after_commit", blueprintId: record.blueprintId)
            AtomicFile.remove(configuration.walPath)
            removeSuperseded(record)
            transactions += 1
            telemetry.metric("urza", "urza.wal.transactions_total", Double(transactions))
            return record
        }
    }

    private func makeRecord(descriptor: BlueprintDescriptor, bytes: [UInt8], artifact: KernelArtifact) -> UrzaRecord {
        let sha = Checksum.sha256Hex(bytes)
        let now = RFC3339.nowUnixNanoseconds()
        let requested =
            artifact.metadata[ArtifactMetadataKeys.requestedParameters]?.objectValue?
            .compactMapValues(\.doubleValue) ?? [:]
        let status = artifact.metadata[ArtifactMetadataKeys.validation]?["status"]?.stringValue ?? "UNVALIDATED"
        return UrzaRecord(
            descriptor: descriptor, artifactPath: "artifacts/\(descriptor.blueprintId)/\(sha).esk", artifactSHA256: sha,
            artifactCRC32: String(format: "%08x", Checksum.crc32(bytes)), artifactBytes: bytes.count,
            formatVersion: Int(ArtifactHeader.currentFormatVersion), parameters: requested,
            paramsSHA256: Checksum.hex(artifact.paramsSHA256), seedWidth: artifact.spec.width,
            kind: artifact.spec.kind.rawValue, variant: artifact.spec.variant.description, validationStatus: status,
            state: .available, compiledAtNs: Int64(clamping: artifact.createdUnixNs), updatedAtNs: now)
    }

    private func cacheAfterSave(_ record: UrzaRecord) {
        caches.withLock { caches in
            caches.metadata.put(record)
            caches.kernels.remove(record.blueprintId)
        }
    }

    // MARK: - Reads

    /// Cache, then database. Never touches the artifact file.
    public func get(_ id: String) -> UrzaRecord? {
        if let cached = caches.withLock({ $0.metadata.get(id) }) { return cached }
        guard let record = try? store.get(id) else { return nil }
        // Only if absent: a save that committed after our read has already cached its record.
        caches.withLock { if $0.metadata.get(id) == nil { $0.metadata.put(record) } }
        return record
    }

    /// The record whose current artifact has this SHA-256.
    public func record(artifactSHA256 sha: String) -> UrzaRecord? { try? store.byArtifact(sha) }

    /// Database rows ordered by id (never the cache), filtered, after a cursor id.
    public func list(
        tier: BlueprintTier? = nil, stage: Int? = nil, quarantined: Bool? = nil, state: ArtifactState? = nil,
        after: String? = nil, limit: Int? = nil
    ) throws(UrzaError) -> [UrzaRecord] {
        do {
            return try store.list(tier: tier, stage: stage, quarantined: quarantined, state: state, after: after, limit: limit)
        } catch {
            throw UrzaError.storage("\(error)")
        }
    }

    public func listAll() -> [UrzaRecord] { (try? list()) ?? [] }

    /// What the forge asks instead of "does a row exist": the row is AVAILABLE, its file
    /// exists with the recorded size, and the file's header passes its CRC.
    /// A damaged file found here is quarantined (and the row marked), so its recompile
    /// leaves a trace; `invalidReason` tells the forge why.
    public func hasValidArtifact(_ id: String) -> Bool {
        guard let record = try? store.get(id), record.state == .available else { return false }
        let path = configuration.root + "/" + record.artifactPath
        guard AtomicFile.exists(path) else {
            markInvalid(record, .missing, reason: "\(record.artifactPath) does not exist")
            return false
        }
        guard FileManager.default.fileSize(path) == record.artifactBytes else {
            quarantine(
                record,
                reason:
                    "\(record.artifactPath) has \(FileManager.default.fileSize(path) ?? 0) bytes, the catalog says \(record.artifactBytes)")
            return false
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: ArtifactHeader.size),
            let header = try? ArtifactHeader.decode(Array(head)[...]),
            header.fileSize == UInt64(record.artifactBytes) && header.blueprintId == id
        else {
            quarantine(record, reason: "\(record.artifactPath): header unreadable or names another blueprint")
            return false
        }
        return true
    }

    /// Why the artifact of `id` was last found missing or damaged in this process (nil: never).
    public func invalidReason(_ id: String) -> String? { invalidReasons.withLock { $0[id] } }

    /// The artifact file of a blueprint id or artifact hash, checked against the recorded
    /// SHA-256 first (a mismatch quarantines it and is an error: unverified bytes never leave).
    public func artifactFile(_ key: String, allowQuarantine: Bool) throws(UrzaError) -> (bytes: [UInt8], record: UrzaRecord) {
        let found = key.count == 64 ? record(artifactSHA256: key) : get(key)
        guard let record = found else { throw UrzaError.notFound(key) }
        guard record.state == .available else { throw UrzaError.unavailable(record.blueprintId, record.state) }
        if record.quarantined && !allowQuarantine { throw UrzaError.quarantined(record.blueprintId) }
        let bytes = try readVerified(record)
        return (bytes, record)
    }

    // MARK: - Kernel fetch

    /// The runnable kernel of `id` (08 §3.5): kernel cache, else metadata → file → SHA-256 →
    /// decode → cache. `width` must match the artifact's (the slot's width). Quarantine-only
    /// kernels need `allowQuarantine` (adversarial training runs only).
    public func fetchKernel(_ id: String, width: Int? = nil, allowQuarantine: Bool = false) throws(UrzaError) -> KernelFetch {
        let started = UrzaLibrary.now()
        guard let record = get(id) else { throw UrzaError.notFound(id) }
        guard record.state == .available else { throw UrzaError.unavailable(id, record.state) }
        if record.quarantined && !allowQuarantine { throw UrzaError.quarantined(id) }
        if let width, record.seedWidth != width {
            throw UrzaError.incompatibleShape(id, artifactWidth: record.seedWidth, requestedWidth: width)
        }
        if let kernel = caches.withLock({ caches -> CompiledKernel? in
            let kernel = caches.kernels.get(id, artifactSHA256: record.artifactSHA256, now: started)
            if kernel != nil { caches.hits += 1 }
            return kernel
        }) {
            let latency = (UrzaLibrary.now() - started) * 1000
            telemetry.metric("urza", "urza.query.duration_ms", latency, ["path": "cache"])
            return KernelFetch(kernel: kernel, latencyMs: latency, cacheHit: true)
        }
        caches.withLock { $0.misses += 1 }
        let bytes = try readVerified(record)
        let kernel: CompiledKernel
        do {
            let artifact = try KernelArtifact.decode(bytes, verifyBody: false)  // the file hash just matched
            kernel = try artifact.compiledKernel(artifactSHA256: record.artifactSHA256)
        } catch let error as ArtifactError where !error.isCorruption {
            markInvalid(record, .deprecated, reason: error.description)
            throw UrzaError.unavailable(id, .deprecated)
        } catch {
            quarantine(record, reason: "\(error)")
            throw UrzaError.integrity(id, "\(error)")
        }
        caches.withLock { $0.kernels.put(id, artifactSHA256: record.artifactSHA256, kernel: kernel, now: started) }
        let latency = (UrzaLibrary.now() - started) * 1000
        telemetry.metric("urza", "urza.query.duration_ms", latency, ["path": "disk"])
        if latency > configuration.hardTimeoutMs { throw UrzaError.timeout(id, milliseconds: latency) }
        return KernelFetch(kernel: kernel, latencyMs: latency, cacheHit: false)
    }

    /// Loads a record's file and checks it against the recorded SHA-256; a missing file marks
    /// the row MISSING, a mismatch quarantines the file and marks it CORRUPT.
    private func readVerified(_ record: UrzaRecord) throws(UrzaError) -> [UInt8] {
        let path = configuration.root + "/" + record.artifactPath
        guard let bytes = try? AtomicFile.read(path) else {
            markInvalid(record, .missing, reason: "\(record.artifactPath) does not exist")
            throw UrzaError.unavailable(record.blueprintId, .missing)
        }
        guard Checksum.sha256Hex(bytes) == record.artifactSHA256 else {
            quarantine(record, reason: "SHA-256 of \(record.artifactPath) does not match the catalog")
            throw UrzaError.integrity(record.blueprintId, "SHA-256 mismatch")
        }
        return bytes
    }

    // MARK: - Integrity

    /// Recomputes the SHA-256 of every row's file; marks MISSING and CORRUPT rows (moving
    /// corrupt files to quarantine/) and asks for their recompilation.
    public func verifyAll() -> IntegrityReport {
        let started = UrzaLibrary.now()
        var report = IntegrityReport()
        for record in listAll() {
            report.checked += 1
            switch record.state {
            case .missing: report.missing.append(record.blueprintId); continue
            case .corrupt: report.corrupt.append(record.blueprintId); continue
            case .deprecated: report.deprecated.append(record.blueprintId); continue
            case .available: break
            }
            do {
                let bytes = try readVerified(record)
                var unsupported = false
                do { _ = try ArtifactHeader.decode(bytes[...]) } catch { if case .unsupportedFormat = error { unsupported = true } }
                if unsupported {
                    markInvalid(record, .deprecated, reason: "newer artifact format")
                    report.deprecated.append(record.blueprintId)
                    report.newlyMarked.append(record.blueprintId)
                } else {
                    report.available += 1
                }
            } catch {
                if case .unavailable = error {
                    report.missing.append(record.blueprintId)
                } else {
                    report.corrupt.append(record.blueprintId)
                }
                report.newlyMarked.append(record.blueprintId)
            }
        }
        report.durationMs = (UrzaLibrary.now() - started) * 1000
        return report
    }

    /// Moves a damaged file to `quarantine/<id>/<sha>.esk.corrupt` (kept for forensics) and
    /// marks the row CORRUPT.
    private func quarantine(_ record: UrzaRecord, reason: String) {
        let source = configuration.root + "/" + record.artifactPath
        let directory = configuration.quarantineDirectory + "/" + record.blueprintId
        try? AtomicFile.createDirectory(directory)
        let target = directory + "/" + (record.artifactPath.split(separator: "/").last.map(String.init) ?? "artifact") + ".corrupt"
        let moved = rename(source, target) == 0
        telemetry.metric("urza", "urza.artifact.integrity_failures", 1, ["blueprint_id": record.blueprintId])
        Repairs.shared.record(
            RepairEvent(
                component: "urza", file: source, reason: reason, action: "quarantined, recompile",
                quarantine: moved ? target : nil))
        markInvalid(record, .corrupt, reason: reason)
    }

    /// Marks the row of `record` (only while it still names that artifact) and reports it.
    private func markInvalid(_ record: UrzaRecord, _ state: ArtifactState, reason: String) {
        let id = record.blueprintId
        invalidReasons.withLock { $0[id] = reason }
        if state == .missing {
            Repairs.shared.record(
                RepairEvent(component: "urza", file: configuration.root + "/" + record.artifactPath, reason: reason, action: "recompile"))
        }
        let changed =
            (try? store.setState(
                id, artifactSHA256: record.artifactSHA256, state,
                updatedAtNs: RFC3339.nowUnixNanoseconds())) ?? false
        caches.withLock { caches in
            caches.metadata.remove(id)
            caches.kernels.remove(id)
        }
        guard changed else { return }
        let event = state == .missing ? "artifact_missing" : (state == .corrupt ? "integrity_failure" : "artifact_unsupported")
        telemetry.event("urza", event, state == .corrupt ? .error : .warning, ["blueprint_id": id, "reason": reason])
        invalidHandler.withLock { $0 }?(id, reason)
    }

    // MARK: - Recovery and garbage collection

    /// 08 §1.5 and §3.6: replay a save interrupted between its WAL write and its WAL delete.
    private func recoverWAL() throws(UrzaError) {
        let path = configuration.walPath
        guard let bytes = try? AtomicFile.read(path) else { return }
        guard var entry = try? JanssonDecoder().decode(UrzaWALEntry.self, from: bytes), !entry.blueprintId.isEmpty else {
            _ = rename(path, path + ".corrupt")
            telemetry.event("urza", "wal_corrupt", .warning, ["path": path])
            return
        }
        var descriptor = entry.descriptor
        if descriptor.blueprintId.isEmpty { descriptor.blueprintId = entry.blueprintId }
        if descriptor.tier == .unspecified {
            // Never default an unknown tier to SAFE: take it from Karn, else treat it as HIGH_RISK.
            if let known = catalog?.get(entry.blueprintId) {
                descriptor.tier = known.tier
                descriptor.quarantineOnly = known.quarantineOnly
                descriptor.approvalRequired = known.approvalRequired
            } else {
                descriptor.tier = .highRisk
                descriptor.quarantineOnly = true
                descriptor.approvalRequired = true
            }
        }
        entry.descriptor = descriptor
        let artifactPath = entry.artifactPath.hasPrefix("/") ? entry.artifactPath : configuration.root + "/" + entry.artifactPath
        guard let artifactBytes = try? AtomicFile.read(artifactPath),
            entry.artifactSha256.map({ $0 == Checksum.sha256Hex(artifactBytes) }) ?? true,
            let artifact = try? KernelArtifact.decode(artifactBytes), artifact.blueprintId == entry.blueprintId
        else {
            _ = rename(path, path + ".orphan")
            telemetry.event("urza", "wal_orphan", .warning, ["blueprint_id": entry.blueprintId, "artifact_path": entry.artifactPath])
            invalidHandler.withLock { $0 }?(entry.blueprintId, "the interrupted save's artifact is missing")
            return
        }
        let record = makeRecord(descriptor: descriptor, bytes: artifactBytes, artifact: artifact)
        do {
            let destination = configuration.root + "/" + record.artifactPath
            if FileManager.default.fileSize(destination) != artifactBytes.count {
                try AtomicFile.write(artifactBytes, to: destination)
            }
            try store.upsert(record)
        } catch {
            throw UrzaError.storage("WAL recovery: \(error)")
        }
        AtomicFile.remove(path)
        telemetry.event("urza", "wal_recovered", .info, ["blueprint_id": record.blueprintId])
        telemetry.metric("urza", "urza.wal.recovered", 1)
    }

    /// Deletes temporary files and artifact files no row references (left by a crash between
    /// the copy and the commit, or a superseded artifact whose removal was interrupted).
    private func collectGarbage() {
        let fm = FileManager.default
        let referenced = Set(listAll().map(\.artifactPath))
        guard let ids = try? fm.contentsOfDirectory(atPath: configuration.artifactsDirectory) else { return }
        for id in ids {
            let directory = configuration.artifactsDirectory + "/" + id
            for file in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where !referenced.contains("artifacts/\(id)/\(file)") {
                try? fm.removeItem(atPath: directory + "/" + file)
            }
            if ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).isEmpty { try? fm.removeItem(atPath: directory) }
        }
    }

    private func removeSuperseded(_ record: UrzaRecord) {
        let directory = configuration.artifactsDirectory + "/" + record.blueprintId
        let keep = record.artifactPath.split(separator: "/").last.map(String.init)
        for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file != keep {
            try? FileManager.default.removeItem(atPath: directory + "/" + file)
        }
    }

    // MARK: - Stats and helpers

    public var stats: UrzaStats {
        let counts = (try? store.stateCounts()) ?? [:]
        return caches.withLock { caches in
            UrzaStats(
                records: counts.values.reduce(0, +), available: counts[.available] ?? 0, missing: counts[.missing] ?? 0,
                corrupt: counts[.corrupt] ?? 0, deprecated: counts[.deprecated] ?? 0,
                metadataCacheEntries: caches.metadata.count, kernelCacheEntries: caches.kernels.count,
                kernelCacheBytes: caches.kernels.bytes, cacheHits: caches.hits, cacheMisses: caches.misses,
                fallbacksToDefault: caches.fallbacksToDefault, fallbacksToIdentity: caches.fallbacksToIdentity,
                walPending: AtomicFile.exists(configuration.walPath))
        }
    }

    /// Ids Urza will put in a path: letters, digits, `_`, `-`, `.`; 1-31 bytes; not `.`/`..`.
    static func checkStorableId(_ id: String) throws(UrzaError) {
        let ok =
            !id.isEmpty && id.utf8.count < 32 && id != "." && id != ".."
            && id.utf8.allSatisfy {
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 || $0 == 45 || $0 == 46
            }
        if !ok { throw UrzaError.invalidId(id) }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// What `verifyAll` found.
public struct IntegrityReport: Sendable, Encodable, Equatable {
    public var checked = 0
    public var available = 0
    public var missing: [String] = []
    public var corrupt: [String] = []
    public var deprecated: [String] = []
    /// Rows this scan changed from AVAILABLE.
    public var newlyMarked: [String] = []
    public var durationMs = 0.0
}

/// The single pending save (`urza_wal.json`). Readers accept the reference design's
/// `{blueprint_id, artifact_path, descriptor}`.
struct UrzaWALEntry: Codable {
    var version = 1
    var blueprintId: String
    var artifactPath: String
    var artifactSha256: String?
    var descriptor: BlueprintDescriptor

    init(blueprintId: String, artifactPath: String, artifactSha256: String?, descriptor: BlueprintDescriptor) {
        self.blueprintId = blueprintId
        self.artifactPath = artifactPath
        self.artifactSha256 = artifactSha256
        self.descriptor = descriptor
    }

    enum CodingKeys: String, CodingKey { case version, blueprintId, artifactPath, artifactSha256, descriptor }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        blueprintId = try c.decodeIfPresent(String.self, forKey: .blueprintId) ?? ""
        artifactPath = try c.decode(String.self, forKey: .artifactPath)
        artifactSha256 = try c.decodeIfPresent(String.self, forKey: .artifactSha256)
        descriptor =
            try c.decodeIfPresent(BlueprintDescriptor.self, forKey: .descriptor)
            ?? BlueprintDescriptor(blueprintId: "", name: "", tier: .unspecified, risk: 0, stage: 0, description: "")
    }
}

extension FileManager {
    /// Size of a regular file, nil when it does not exist.
    func fileSize(_ path: String) -> Int? {
        (try? attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
    }
}
