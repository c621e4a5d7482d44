// Bytes and file counts under a directory, grouped by a caller-given kind per file.
import Foundation

/// What a directory holds, per kind of file (the caller names the kind from the relative path).
public struct DirectoryUsage: Sendable, Codable, Equatable {
    public struct Kind: Sendable, Codable, Equatable {
        public var bytes: Int64 = 0
        public var files: Int = 0
        public init() {}
    }

    public var directory: String
    public var bytes: Int64 = 0
    public var files: Int = 0
    public var kinds: [String: Kind] = [:]

    /// Walks `directory` (symbolic links are not followed; unreadable entries are skipped), and
    /// adds each regular file's size to `kind(relativePath)`. Every kind in `kinds` is listed,
    /// even when empty.
    public static func measure(_ directory: String, kinds names: [String], kind: (String) -> String) -> DirectoryUsage {
        var usage = DirectoryUsage(directory: directory)
        for name in names { usage.kinds[name] = Kind() }
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        guard
            let walker = FileManager.default.enumerator(
                at: root, includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey], options: [], errorHandler: { _, _ in true })
        else { return usage }
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        for case let url as URL in walker {
            guard let values = try? url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey]), values.isRegularFile == true else {
                continue
            }
            let path = url.standardizedFileURL.path
            let relative = path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
            let size = Int64(values.fileSize ?? 0)
            let name = kind(relative)
            usage.kinds[name, default: Kind()].bytes += size
            usage.kinds[name, default: Kind()].files += 1
            usage.bytes += size
            usage.files += 1
        }
        return usage
    }
}
