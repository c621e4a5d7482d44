/// A file whose content is guarded by a SHA-256 trailer line: `<payload>\n#sha256:<hex>\n`.
/// Written atomically; a read that finds a missing or wrong checksum is reported as corrupt,
/// never returned. Text payloads (JSON) stay readable with `head`/`jq` (drop the last line).
public enum ChecksummedFile {
    static let marker = Array("\n#sha256:".utf8)

    public enum ReadError: Error, Sendable, Equatable, CustomStringConvertible {
        case corrupt(path: String, reason: String)
        case storage(StorageError)
        public var description: String {
            switch self {
            case .corrupt(let path, let reason): "\(path) is corrupt: \(reason)"
            case .storage(let error): error.description
            }
        }
    }

    public static func write(_ payload: [UInt8], to path: String) throws(StorageError) {
        try AtomicFile.write(payload + marker + Array(Checksum.sha256Hex(payload).utf8) + [10], to: path)
    }

    /// The payload, or nil when the file does not exist.
    public static func read(_ path: String) throws(ReadError) -> [UInt8]? {
        let bytes: [UInt8]?
        do { bytes = try AtomicFile.read(path) } catch { throw .storage(error) }
        guard let bytes else { return nil }
        let trailerLength = marker.count + 64 + 1
        guard bytes.count >= trailerLength, bytes.last == 10 else {
            throw .corrupt(path: path, reason: "no checksum trailer")
        }
        let payloadEnd = bytes.count - trailerLength
        guard Array(bytes[payloadEnd..<(payloadEnd + marker.count)]) == marker else {
            throw .corrupt(path: path, reason: "no checksum trailer")
        }
        let payload = Array(bytes[0..<payloadEnd])
        let stored = String(decoding: bytes[(payloadEnd + marker.count)..<(bytes.count - 1)], as: UTF8.self)
        guard stored == Checksum.sha256Hex(payload) else {
            throw .corrupt(path: path, reason: "checksum mismatch")
        }
        return payload
    }
}
