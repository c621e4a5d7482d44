#if canImport(Glibc)
    internal import Glibc
#endif

/// A storage failure, naming the path and the system's reason.
public struct StorageError: Error, Sendable, CustomStringConvertible, Equatable {
    public let path: String
    public let reason: String
    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
    public var description: String { "\(path): \(reason)" }

    static func errno(_ path: String, _ what: String) -> StorageError {
        StorageError(path: path, reason: "\(what): \(String(cString: strerror(Glibc.errno)))")
    }
}

/// Whole-file reads and crash-safe writes: write a temporary file in the same directory,
/// fsync it, rename it over the target, fsync the directory. A crash leaves either the old
/// file or the new one, never a mix.
public enum AtomicFile {
    public static func write(_ bytes: some Collection<UInt8>, to path: String) throws(StorageError) {
        let directory = parentDirectory(of: path)
        try createDirectory(directory)
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StorageError.errno(temporary, "open") }
        do throws(StorageError) {
            try writeAll(fd, Array(bytes), path: temporary)
            guard fsync(fd) == 0 else { throw StorageError.errno(temporary, "fsync") }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = StorageError.errno(path, "rename")
            unlink(temporary)
            throw error
        }
        syncDirectory(directory)
    }

    /// The file's bytes, or nil when it does not exist.
    public static func read(_ path: String) throws(StorageError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StorageError.errno(path, "open")
        }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.errno(path, "read")
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    public static func remove(_ path: String) {
        unlink(path)
        syncDirectory(parentDirectory(of: path))
    }

    public static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    /// `mkdir -p`.
    public static func createDirectory(_ path: String) throws(StorageError) {
        guard !path.isEmpty else { return }
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw StorageError.errno(current, "mkdir")
            }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(StorageError) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StorageError.errno(path, "write")
            }
            offset += n
        }
    }

    static func syncDirectory(_ directory: String) {
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
