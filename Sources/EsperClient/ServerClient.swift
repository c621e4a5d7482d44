import CCurl
import Foundation

/// GETs from the Esper server an `esper worker` works for (libcurl): the Urza mirror's
/// listings and artifacts, a remote policy job's row, field reports and Tamiyo's weights; and
/// PUTs of compiled artifacts into the server's Urza.
public struct ServerClient: Sendable {
    public let serverURL: String
    let timeoutMilliseconds: Int
    static let maxBodyBytes = 64 << 20

    public struct RequestError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The server's API token (`ESPER_API_TOKEN`), sent as `Authorization: Bearer` when set:
    /// uploads are writes, and reads may be protected too.
    let token: String?

    public init(serverURL: String, timeoutMilliseconds: Int = 10_000, token: String? = nil) {
        self.serverURL = serverURL.hasSuffix("/") ? String(serverURL.dropLast()) : serverURL
        self.timeoutMilliseconds = timeoutMilliseconds
        self.token = token.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The Authorization header list (nil without a token); the caller frees it.
    private func authorization() -> UnsafeMutablePointer<curl_slist>? {
        guard let token else { return nil }
        return curl_slist_append(nil, "Authorization: Bearer \(token)")
    }

    private static let initialised: Bool = { esper_curl_global_init() == CURLE_OK }()

    /// One GET: 200 or an error naming the status.
    public func get(_ path: String) throws(RequestError) -> (body: [UInt8], sha256Header: String?) {
        guard ServerClient.initialised, let curl = curl_easy_init() else { throw RequestError(description: "libcurl unavailable") }
        defer { curl_easy_cleanup(curl) }
        var download = esper_curl_download()
        download.limit = ServerClient.maxBodyBytes
        defer { esper_curl_download_free(&download) }
        let url = serverURL + path
        let headers = authorization()
        defer { curl_slist_free_all(headers) }
        if let headers { _ = esper_curl_setopt_headers(curl, headers) }
        let code: CURLcode = withUnsafeMutablePointer(to: &download) { pointer in
            _ = esper_curl_setopt_string(curl, CURLOPT_URL, url)
            _ = esper_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
            _ = esper_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, timeoutMilliseconds)
            _ = esper_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, timeoutMilliseconds)
            _ = esper_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
            _ = esper_curl_download_into(curl, pointer)
            return curl_easy_perform(curl)
        }
        if download.overflow != 0 { throw RequestError(description: "GET \(path): body larger than \(ServerClient.maxBodyBytes) bytes") }
        guard code == CURLE_OK else { throw RequestError(description: "GET \(url): \(String(cString: curl_easy_strerror(code)))") }
        let status = esper_curl_response_code(curl)
        guard status == 200 else { throw RequestError(description: "GET \(url): HTTP \(status)") }
        let body = download.data.map { Array(UnsafeBufferPointer(start: $0, count: download.length)) } ?? []
        let header = withUnsafeBytes(of: download.sha256) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).lowercased() }
        return (body, header.isEmpty ? nil : header)
    }

    /// One PUT of `body` with `headers`: the status and the answer's first bytes (a problem's
    /// detail, for the log), or an error when the server cannot be reached.
    public func put(_ path: String, body: [UInt8], headers: [String: String]) throws(RequestError) -> (status: Int, detail: String) {
        guard ServerClient.initialised, let curl = curl_easy_init() else { throw RequestError(description: "libcurl unavailable") }
        defer { curl_easy_cleanup(curl) }
        var list = authorization()
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { list = curl_slist_append(list, "\(name): \(value)") }
        list = curl_slist_append(list, "Expect:")
        defer { curl_slist_free_all(list) }
        var answer = esper_curl_buffer()
        let url = serverURL + path
        let code: CURLcode = body.withUnsafeBytes { bytes in
            withUnsafeMutablePointer(to: &answer) { pointer in
                _ = esper_curl_setopt_string(curl, CURLOPT_URL, url)
                _ = esper_curl_setopt_string(curl, CURLOPT_CUSTOMREQUEST, "PUT")
                _ = esper_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
                _ = esper_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, timeoutMilliseconds)
                _ = esper_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, timeoutMilliseconds)
                _ = esper_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
                _ = esper_curl_setopt_headers(curl, list)
                _ = esper_curl_setopt_body(curl, bytes.baseAddress, bytes.count)
                _ = esper_curl_collect_body(curl, pointer)
                return curl_easy_perform(curl)
            }
        }
        guard code == CURLE_OK else { throw RequestError(description: "PUT \(url): \(String(cString: curl_easy_strerror(code)))") }
        let detail = withUnsafeBytes(of: answer.data) { raw in String(decoding: raw.prefix(answer.length), as: UTF8.self) }
        return (Int(esper_curl_response_code(curl)), detail)
    }
}
