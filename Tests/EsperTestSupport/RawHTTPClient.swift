// EsperTestSupport: helpers the test suites share — a raw-socket HTTP client (so tests can
// send exactly the bytes they mean, including malformed ones), temporary directories, and a
// real redis-server on a private socket.
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A parsed HTTP response.
public struct RawResponse: Sendable {
    public let status: Int
    public let headers: [String: String]
    public let body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

public struct RawHTTPError: Error, CustomStringConvertible {
    public let description: String
}

/// One TCP connection to 127.0.0.1:port that sends raw bytes and reads responses.
public final class RawHTTPConnection {
    public let fd: Int32

    /// `source`: the local address to connect from (any 127.0.0.x works on Linux), so tests
    /// can act as several clients.
    public init(port: UInt16, timeoutSeconds: Int = 10, source: String? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError(description: "socket failed") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { throw RawHTTPError(description: "bind to \(source) failed: errno \(errno)") }
        }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw RawHTTPError(description: "connect to port \(port) failed: errno \(errno)") }
    }

    /// Also after a throwing `init`: the object is fully initialised once `fd` is set, so Swift
    /// runs `deinit` when a later step throws. A `close` before those throws as well closed the
    /// descriptor twice — the second time someone else's, reused by another thread's socket
    /// meanwhile (the tests' "connect failed: errno 9" and "got 0 bytes").
    deinit { if fd >= 0 { close(fd) } }

    /// Sends bytes; returns false if the peer closed.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    @discardableResult
    public func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    private var buffer: [UInt8] = []

    /// Reads bytes until `count` are buffered or the peer closes; returns false on close/timeout.
    private func fill(_ count: Int) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while buffer.count < count {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
        }
        return true
    }

    /// True when the server has closed the connection (reads EOF within the socket timeout).
    public func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, 0)
        if n > 0 { buffer.append(byte) }
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    /// Reads one response (Content-Length bodies; without one, until the peer closes).
    public func readResponse() throws -> RawResponse {
        var headerEnd: Int?
        while headerEnd == nil {
            if let range = findHeaderEnd() { headerEnd = range; break }
            guard fill(buffer.count + 1) else {
                throw RawHTTPError(description: "connection closed before a full response header (got \(buffer.count) bytes)")
            }
        }
        let head = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw RawHTTPError(description: "bad status line in \(head)")
        }
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        buffer.removeFirst(headerEnd! + 4)
        var body: [UInt8]
        if let length = headers["content-length"].flatMap(Int.init) {
            guard fill(length) else { throw RawHTTPError(description: "body shorter than Content-Length") }
            body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        } else {
            while fill(buffer.count + 1) {}
            body = buffer
            buffer = []
        }
        return RawResponse(status: status, headers: headers, body: body)
    }

    private func findHeaderEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

/// One-shot requests.
public enum RawHTTP {
    public static func request(
        port: UInt16, method: String = "GET", path: String, headers: [String: String] = [:],
        body: [UInt8] = []
    ) throws -> RawResponse {
        let connection = try RawHTTPConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        connection.send(Array(head.utf8) + body)
        return try connection.readResponse()
    }

    public static func json(_ response: RawResponse) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any] else {
            throw RawHTTPError(description: "not a JSON object: \(response.text)")
        }
        return object
    }
}
