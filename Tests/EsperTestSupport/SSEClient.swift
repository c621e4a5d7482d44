import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One Server-Sent Events message: its fields, or the comment lines of a comment-only block
/// (`: heartbeat`).
public struct SSEMessage: Sendable, Equatable {
    public var id: String?
    public var event: String?
    public var data: String?
    public var retry: String?
    public var comments: [String] = []

    public var isComment: Bool { id == nil && event == nil && data == nil && retry == nil }

    /// `data:` parsed as a JSON object.
    public var json: [String: Any]? {
        guard let data else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any]
    }
}

/// A raw-socket SSE client: sends a GET, reads the response head, then decodes the chunked
/// body into messages as they arrive. `receiveBuffer` shrinks the socket's receive buffer
/// (before connecting) so a client that stops reading stalls the server side quickly.
public final class SSEClient {
    public let fd: Int32
    public private(set) var status = 0
    public private(set) var headers: [String: String] = [:]
    /// The body of a non-streaming answer (errors).
    public private(set) var body: [UInt8] = []
    private var raw: [UInt8] = []
    private var text: [UInt8] = []
    private var chunked = false
    /// True once the server closed the connection.
    public private(set) var closed = false
    /// True once the chunked body ended properly (the zero-length chunk).
    public private(set) var ended = false

    public init(
        port: UInt16, path: String, headers: [String: String] = [:], receiveBuffer: Int? = nil, timeoutSeconds: Int = 10
    ) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError(description: "socket failed") }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer.map(Int32.init) {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // No `close` here: `deinit` runs after a throw from a fully initialised object (see
        // RawHTTPConnection), and a second close could hit another thread's new descriptor.
        guard result == 0 else { throw RawHTTPError(description: "connect to port \(port) failed: errno \(errno)") }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw RawHTTPError(description: "cannot send the request")
        }
        try readHead()
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Closes the connection (the server sees the client leave).
    public func disconnect() {
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Receives once; false on close or timeout.
    private func receive() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) { closed = true }
        if n <= 0 { return false }
        raw.append(contentsOf: chunk[0..<n])
        return true
    }

    private func readHead() throws {
        while true {
            if let end = find([13, 10, 13, 10], in: raw) {
                let head = String(decoding: raw[0..<end], as: UTF8.self)
                raw.removeFirst(end + 4)
                var lines = head.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                guard statusLine.count >= 2, let code = Int(statusLine[1]) else {
                    throw RawHTTPError(description: "bad status line in \(head)")
                }
                status = code
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
                if let length = headers["content-length"].flatMap(Int.init) {
                    while raw.count < length && receive() {}
                    body = Array(raw.prefix(length))
                }
                return
            }
            guard receive() else { throw RawHTTPError(description: "no response head (got \(raw.count) bytes)") }
        }
    }

    private func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }

    /// Moves complete chunks from `raw` into `text`.
    private func dechunk() {
        guard chunked else {
            text += raw
            raw = []
            return
        }
        while let lineEnd = find([13, 10], in: raw) {
            let sizeText = String(decoding: raw[0..<lineEnd], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return }
            guard raw.count >= lineEnd + 2 + size + 2 else { return }
            text += raw[(lineEnd + 2)..<(lineEnd + 2 + size)]
            raw.removeFirst(lineEnd + 2 + size + 2)
            if size == 0 {
                ended = true
                return
            }
        }
    }

    /// The next message, or nil when the connection closed or nothing came within the
    /// socket timeout.
    public func next() -> SSEMessage? {
        while true {
            dechunk()
            if let end = find([10, 10], in: text) {
                let block = String(decoding: text[0..<end], as: UTF8.self)
                text.removeFirst(end + 2)
                var message = SSEMessage()
                for line in block.split(separator: "\n", omittingEmptySubsequences: false) {
                    if line.hasPrefix(":") {
                        message.comments.append(String(line.dropFirst()).trimmingCharacters(in: .whitespaces))
                        continue
                    }
                    let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                    let field = String(parts[0])
                    var value = parts.count > 1 ? String(parts[1]) : ""
                    if value.hasPrefix(" ") { value.removeFirst() }
                    switch field {
                    case "id": message.id = value
                    case "event": message.event = value
                    case "data": message.data = (message.data.map { $0 + "\n" } ?? "") + value
                    case "retry": message.retry = value
                    default: break
                    }
                }
                return message
            }
            guard !ended, receive() else { return nil }
        }
    }

    /// The next message that is an event (not a comment, not only `retry:`); nil when the
    /// connection closed, nothing came within the socket timeout, or `deadline` passed (the
    /// server's heartbeats alone would keep a wait for an event that never comes going forever).
    public func nextEvent(before deadline: Date = .distantFuture) -> SSEMessage? {
        while Date() < deadline, let message = next() {
            if message.event != nil || message.data != nil { return message }
        }
        return nil
    }

    /// Reads until the server closes (or `seconds` pass); the events received meanwhile.
    public func drain(seconds: Double) -> [SSEMessage] {
        var events: [SSEMessage] = []
        let deadline = Date().addingTimeInterval(seconds)
        while !closed && !ended && Date() < deadline {
            if let message = next() {
                if message.event != nil { events.append(message) }
            }
        }
        return events
    }
}
