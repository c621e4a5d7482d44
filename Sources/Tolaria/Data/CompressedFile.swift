internal import CZlib

/// Reads a whole file through zlib's gzip reader, which passes plain files through unchanged:
/// `digits.csv.gz` and `digits.csv` load the same way.
enum CompressedFile {
    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    /// The (decompressed) bytes, refusing more than `limit` of them.
    static func read(_ path: String, limit: Int) throws(ReadError) -> [UInt8] {
        guard let file = gzopen(path, "rb") else {
            throw ReadError(description: "cannot open \(path)")
        }
        defer { gzclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 {
                var code: Int32 = 0
                let message = gzerror(file, &code).map { String(cString: $0) } ?? "read error"
                throw ReadError(description: "cannot read \(path): \(message)")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<Int(n)])
            if bytes.count > limit {
                throw ReadError(description: "\(path) is larger than \(limit / (1 << 20)) MiB")
            }
        }
        return bytes
    }
}
