import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// An append-only log of records, one per line: `<crc32 as 8 hex digits> <payload>\n`.
/// Lines keep it readable with `tail -f` (payloads are compact JSON, which never holds a raw
/// newline). Each append is fsynced. On open, a torn last line (a crash mid-append) is cut
/// off; on read, a line whose checksum does not match is skipped and counted.
public final class AppendOnlyLog: Sendable {
    public let path: String
    private let fd: Mutex<Int32>
    /// The torn last line cut off at open (a crash mid-append), with where it started.
    public let tornAtOpen: DamagedRecord?

    public struct Contents: Sendable {
        public var records: [[UInt8]]
        /// Lines dropped: a torn tail or a checksum mismatch.
        public var skipped: Int
        /// Each dropped line: where it starts, why, and its bytes (for quarantine).
        public var damaged: [DamagedRecord] = []
    }

    /// A line that failed its checksum or format, by byte offset in the file.
    public struct DamagedRecord: Sendable, Equatable {
        public var offset: Int
        public var reason: String
        public var bytes: [UInt8]

        public init(offset: Int, reason: String, bytes: [UInt8]) {
            self.offset = offset
            self.reason = reason
            self.bytes = bytes
        }
    }

    public init(path: String) throws(StorageError) {
        self.path = path
        try AtomicFile.createDirectory(AtomicFile.parentDirectory(of: path))
        let descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw StorageError.errno(path, "open") }
        fd = Mutex(descriptor)
        var torn: DamagedRecord?
        do {
            torn = try AppendOnlyLog.cutTornTail(descriptor, path: path)
        } catch {
            close(descriptor)
            throw error
        }
        tornAtOpen = torn
    }

    deinit { fd.withLock { _ = close($0) } }

    /// Appends one record and fsyncs. The payload must not contain a newline.
    public func append(_ payload: [UInt8]) throws(StorageError) {
        guard !payload.contains(10) else { throw StorageError(path: path, reason: "a log record cannot contain a newline") }
        var line = Array(Checksum.hex(withUnsafeBytes(of: Checksum.crc32(payload).bigEndian) { Array($0) }).utf8)
        line.append(32)
        line.append(contentsOf: payload)
        line.append(10)
        try fd.withLock { (descriptor: inout Int32) throws(StorageError) in
            try AtomicFile.writeAll(descriptor, line, path: path)
            guard fsync(descriptor) == 0 else { throw StorageError.errno(path, "fsync") }
        }
    }

    /// Every intact record, oldest first.
    public func read() throws(StorageError) -> Contents {
        try fd.withLock { _ throws(StorageError) in try AppendOnlyLog.parse(AtomicFile.read(path) ?? []) }
    }

    /// Replaces the whole log atomically (retention: keep only these records).
    public func rewrite(_ records: [[UInt8]]) throws(StorageError) {
        try fd.withLock { (descriptor: inout Int32) throws(StorageError) in
            var bytes: [UInt8] = []
            for payload in records {
                bytes += Array(Checksum.hex(withUnsafeBytes(of: Checksum.crc32(payload).bigEndian) { Array($0) }).utf8)
                bytes.append(32)
                bytes += payload
                bytes.append(10)
            }
            try AtomicFile.write(bytes, to: path)
            close(descriptor)
            descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw StorageError.errno(path, "open") }
        }
    }

    static func parse(_ bytes: [UInt8]) -> Contents {
        var records: [[UInt8]] = []
        var damaged: [DamagedRecord] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 10 {
            let line = bytes[start..<index]
            defer { start = index + 1 }
            guard line.count >= 9, line[line.startIndex + 8] == 32,
                let stored = UInt32(String(decoding: line.prefix(8), as: UTF8.self), radix: 16)
            else {
                damaged.append(DamagedRecord(offset: start, reason: "not a '<crc32> <payload>' line", bytes: Array(line)))
                continue
            }
            let payload = Array(line.dropFirst(9))
            if Checksum.crc32(payload) == stored {
                records.append(payload)
            } else {
                damaged.append(DamagedRecord(offset: start, reason: "checksum mismatch", bytes: Array(line)))
            }
        }
        if start < bytes.count {
            damaged.append(DamagedRecord(offset: start, reason: "torn tail (no newline)", bytes: Array(bytes[start...])))
        }
        return Contents(records: records, skipped: damaged.count, damaged: damaged)
    }

    private static func cutTornTail(_ descriptor: Int32, path: String) throws(StorageError) -> DamagedRecord? {
        let size = lseek(descriptor, 0, SEEK_END)
        guard size > 0 else { return nil }
        var last: UInt8 = 0
        guard pread(descriptor, &last, 1, size - 1) == 1 else { throw StorageError.errno(path, "read") }
        if last == 10 { return nil }
        let bytes = try AtomicFile.read(path) ?? []
        let keep = (bytes.lastIndex(of: 10).map { $0 + 1 }) ?? 0
        guard ftruncate(descriptor, off_t(keep)) == 0 else { throw StorageError.errno(path, "ftruncate") }
        fsync(descriptor)
        return DamagedRecord(offset: keep, reason: "torn tail (no newline), cut off", bytes: Array(bytes[keep...]))
    }
}
