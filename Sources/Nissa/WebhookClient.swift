import CCurl
import Foundation

/// One JSON POST through libcurl (HTTPS for Slack/PagerDuty-style webhooks, plain HTTP on
/// loopback). Blocking: only the notifier's own thread calls it, never an HTTP handler.
public enum WebhookClient {
    public struct Outcome: Sendable, Equatable {
        /// HTTP status, 0 when no response arrived.
        public let status: Int
        /// Transport error (timeout, refused, TLS), nil when a response arrived.
        public let error: String?
        /// The first bytes of the response body.
        public let body: String

        public var succeeded: Bool { error == nil && (200..<300).contains(status) }

        /// Worth another attempt: a transport error or a 5xx, as Alertmanager's notifiers
        /// decide (`notify.Retrier.Check`). Any other answer (4xx, 3xx) says the request
        /// itself is wrong and will not succeed when repeated.
        public var retryable: Bool { error != nil || (500..<600).contains(status) }

        public var summary: String {
            if let error { return error }
            return "HTTP \(status)" + (body.isEmpty ? "" : ": " + body.prefix(200))
        }
    }

    private static let initialised: Bool = { esper_curl_global_init() == CURLE_OK }()

    public static func post(url: String, body: [UInt8], timeoutMilliseconds: Int) -> Outcome {
        guard initialised else { return Outcome(status: 0, error: "libcurl could not be initialised", body: "") }
        guard let curl = curl_easy_init() else { return Outcome(status: 0, error: "curl_easy_init failed", body: "") }
        defer { curl_easy_cleanup(curl) }
        var headers: UnsafeMutablePointer<curl_slist>?
        headers = curl_slist_append(headers, "Content-Type: application/json")
        headers = curl_slist_append(headers, "User-Agent: esper-nissa")
        defer { curl_slist_free_all(headers) }
        var buffer = esper_curl_buffer()
        let code: CURLcode = body.withUnsafeBytes { raw in
            withUnsafeMutablePointer(to: &buffer) { bufferPointer in
                _ = esper_curl_setopt_string(curl, CURLOPT_URL, url)
                // Signals cannot be used for timeouts in a multi-threaded process.
                _ = esper_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
                _ = esper_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, timeoutMilliseconds)
                _ = esper_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, timeoutMilliseconds)
                _ = esper_curl_setopt_long(curl, CURLOPT_POST, 1)
                // Only web protocols; a webhook URL must not read files or talk to other services.
                _ = esper_curl_setopt_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
                _ = esper_curl_setopt_headers(curl, headers)
                _ = esper_curl_setopt_body(curl, raw.baseAddress, raw.count)
                _ = esper_curl_collect_body(curl, bufferPointer)
                return curl_easy_perform(curl)
            }
        }
        let text = withUnsafeBytes(of: buffer.data) { raw in
            String(decoding: raw.prefix(Int(buffer.length)), as: UTF8.self)
        }
        guard code == CURLE_OK else {
            return Outcome(status: 0, error: String(cString: curl_easy_strerror(code)), body: text)
        }
        return Outcome(status: Int(esper_curl_response_code(curl)), error: nil, body: text)
    }
}
