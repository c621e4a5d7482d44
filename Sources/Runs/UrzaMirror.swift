import EsperClient
import EsperJSON
import EsperStorage
import Foundation
public import Karn
import Synchronization
public import Urza

/// An `esper worker`'s copy of the server's kernel library: before it trains a run with a
/// control policy, the worker lists the server's blueprints (`GET /api/v1/urza/blueprints`)
/// and downloads every available artifact it lacks or holds in another version (`GET
/// /api/v1/urza/artifacts/{id}`), checks its SHA-256 against the listing and the server's
/// `X-Esper-SHA256` header, and stores it in a local Urza library — which Kasmina then
/// fetches from exactly as on the server (budget, fallback chain, caches). Host-shaped
/// artifacts (Tezzeret's compiles of widening and conv-branch templates at a host shape,
/// `BP052-i40-o10`) come the same way. Quarantined artifacts are not mirrored.
public final class UrzaMirror: Sendable {
    public let serverURL: String
    public let urza: UrzaLibrary
    let karn: KarnCatalog
    let downloads: String
    let timeoutMilliseconds: Int
    private let syncing = Mutex(())

    public struct SyncError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(serverURL: String, urza: UrzaLibrary, karn: KarnCatalog, downloads: String, timeoutMilliseconds: Int = 10_000) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.urza = urza
        self.karn = karn
        self.downloads = downloads
        self.timeoutMilliseconds = timeoutMilliseconds
    }

    /// Brings the local library up to the server's; returns how many artifacts were stored.
    @discardableResult
    public func sync() throws(SyncError) -> Int {
        try syncing.withLock { _ throws(SyncError) -> Int in
            var stored = 0
            var cursor: String?
            repeat {
                var path = "/api/v1/urza/blueprints?state=AVAILABLE&quarantined=false&limit=500"
                if let cursor { path += "&cursor=" + cursor }
                let page = try get(path)
                let listing: JSONValue
                do { listing = try JSONValue.parse(page.body) } catch { throw SyncError(description: "blueprint listing: \(error)") }
                for item in listing.objectValue?["items"]?.arrayValue ?? [] {
                    guard let record = item.objectValue, let id = record["blueprint_id"]?.stringValue,
                        let sha = record["artifact_sha256"]?.stringValue
                    else { continue }
                    if urza.get(id)?.artifactSHA256 == sha { continue }
                    try store(id, sha256: sha)
                    stored += 1
                }
                cursor = listing.objectValue?["next_cursor"]?.stringValue
            } while cursor != nil
            return stored
        }
    }

    private func store(_ id: String, sha256 expected: String) throws(SyncError) {
        // A host-shaped artifact (`BP052-i40-o10`) is stored under its own id with its
        // template's descriptor.
        let templateId = HostShape.parse(artifactId: id)?.templateId ?? id
        guard templateId.allSatisfy({ $0.isLetter || $0.isNumber }), var descriptor = karn.template(templateId)?.descriptor else {
            throw SyncError(description: "the server lists \(id), which this worker's catalog does not know")
        }
        descriptor.blueprintId = id
        // By hash for a host-shaped id (the download route takes BP ids and hashes).
        let artifact = try get("/api/v1/urza/artifacts/\(templateId == id ? id : expected)")
        let actual = Checksum.sha256Hex(artifact.body)
        guard actual == expected, artifact.sha256Header == expected else {
            throw SyncError(
                description: "\(id): checksum mismatch (listing \(expected), header \(artifact.sha256Header ?? "none"), body \(actual))")
        }
        let file = downloads + "/\(id)-\(actual).esk"
        do {
            try AtomicFile.createDirectory(downloads)
            try AtomicFile.write(artifact.body, to: file)
            defer { AtomicFile.remove(file) }
            try urza.save(descriptor: descriptor, artifactPath: file)
        } catch {
            throw SyncError(description: "\(id): \(error)")
        }
    }

    /// One GET: 200 or an error naming the status.
    func get(_ path: String) throws(SyncError) -> (body: [UInt8], sha256Header: String?) {
        do { return try ServerClient(serverURL: serverURL, timeoutMilliseconds: timeoutMilliseconds).get(path) } catch {
            throw SyncError(description: error.description)
        }
    }
}
