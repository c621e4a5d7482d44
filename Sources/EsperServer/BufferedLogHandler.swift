import Foundation
public import Logging
import Synchronization

/// A swift-log backend that writes lines to a file descriptor (stderr by default) through an
/// in-memory buffer: one `write(2)` per batch instead of per line, flushed every 100 ms by a
/// background thread, at once for warnings and above, and at `flush()`. Under load the
/// access log would otherwise cost the HTTP path a syscall and a lock per request.
public struct BufferedLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let sink: Sink

    public init(label: String, level: Logger.Level, sink: Sink) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = sink.timestamp()
        line += " "
        line += event.level.rawValue
        line += " "
        line += label
        line += ": "
        line += event.message.description
        let merged = event.metadata.map { metadata.merging($0) { $1 } } ?? metadata
        if !merged.isEmpty {
            for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
                line += " \(key)=\(value)"
            }
        }
        line += "\n"
        sink.append(line, urgent: event.level >= .warning)
    }

    /// The shared buffer and its flusher.
    public final class Sink: Sendable {
        private let fd: Int32
        private let buffer = Mutex<[UInt8]>([])
        private let clock = Mutex<(second: Int, text: String)>((-1, ""))
        private let running = Atomic<Bool>(true)

        public init(fd: Int32 = 2) {
            self.fd = fd
            let thread = Thread { [self] in
                while running.load(ordering: .relaxed) {
                    usleep(100_000)
                    flush()
                }
            }
            thread.name = "esper-log-flush"
            thread.start()
        }

        func append(_ line: String, urgent: Bool) {
            let full = buffer.withLock { bytes -> Bool in
                bytes.append(contentsOf: line.utf8)
                return bytes.count >= 64 * 1024
            }
            if urgent || full { flush() }
        }

        public func flush() {
            let pending = buffer.withLock { bytes -> [UInt8] in
                defer { bytes.removeAll(keepingCapacity: true) }
                return bytes
            }
            var offset = 0
            while offset < pending.count {
                let written = pending[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written <= 0 { break }
                offset += written
            }
        }

        /// RFC 3339 UTC with milliseconds; the date part is formatted once per second.
        func timestamp() -> String {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let second = now.tv_sec
            let prefix = clock.withLock { cached -> String in
                if cached.second != second {
                    var time = second
                    var parts = tm()
                    gmtime_r(&time, &parts)
                    cached = (
                        second,
                        String(
                            format: "%04d-%02d-%02dT%02d:%02d:%02d", parts.tm_year + 1900, parts.tm_mon + 1,
                            parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec)
                    )
                }
                return cached.text
            }
            let millis = now.tv_nsec / 1_000_000
            return prefix + (millis < 10 ? ".00" : millis < 100 ? ".0" : ".") + String(millis) + "Z"
        }
    }
}
