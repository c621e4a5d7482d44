import CCurl
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
/// fetches from exactly as on the server (budget, fallback chain, caches). Quarantined
/// artifacts are not mirrored.
public final class UrzaMirror: Sendable {
    public let serverURL: String
    public let urza: UrzaLibrary
    let karn: KarnCatalog
    let downloads: String
    let timeoutMilliseconds: Int
    private let syncing = Mutex(())
    static let maxBodyBytes = 64 << 20

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
        guard id.allSatisfy({ $0.isLetter || $0.isNumber }), let template = karn.template(id) else {
            throw SyncError(description: "the server lists \(id), which this worker's catalog does not know")
        }
        let artifact = try get("/api/v1/urza/artifacts/\(id)")
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
            try urza.save(descriptor: template.descriptor, artifactPath: file)
        } catch {
            throw SyncError(description: "\(id): \(error)")
        }
    }

    private static let initialised: Bool = { esper_curl_global_init() == CURLE_OK }()

    /// One GET: 200 or an error naming the status.
    func get(_ path: String) throws(SyncError) -> (body: [UInt8], sha256Header: String?) {
        guard UrzaMirror.initialised, let curl = curl_easy_init() else { throw SyncError(description: "libcurl unavailable") }
        defer { curl_easy_cleanup(curl) }
        var download = esper_curl_download()
        download.limit = UrzaMirror.maxBodyBytes
        defer { esper_curl_download_free(&download) }
        let url = serverURL + path
        let code: CURLcode = withUnsafeMutablePointer(to: &download) { pointer in
            _ = esper_curl_setopt_string(curl, CURLOPT_URL, url)
            _ = esper_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
            _ = esper_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, timeoutMilliseconds)
            _ = esper_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, timeoutMilliseconds)
            _ = esper_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
            _ = esper_curl_download_into(curl, pointer)
            return curl_easy_perform(curl)
        }
        if download.overflow != 0 { throw SyncError(description: "GET \(path): body larger than \(UrzaMirror.maxBodyBytes) bytes") }
        guard code == CURLE_OK else { throw SyncError(description: "GET \(url): \(String(cString: curl_easy_strerror(code)))") }
        let status = esper_curl_response_code(curl)
        guard status == 200 else { throw SyncError(description: "GET \(url): HTTP \(status)") }
        let body = download.data.map { Array(UnsafeBufferPointer(start: $0, count: download.length)) } ?? []
        let header = withUnsafeBytes(of: download.sha256) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).lowercased() }
        return (body, header.isEmpty ? nil : header)
    }
}
