// EsperStorage: durable local state — SQLite databases, atomic checksummed files and
// append-only record logs that survive a crash at any point.
internal import COpenSSL
internal import CZlib

/// Checksums for files and records.
public enum Checksum {
    /// SHA-256 digest (32 bytes).
    public static func sha256(_ bytes: some Collection<UInt8>) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        let contiguous = Array(bytes)
        contiguous.withUnsafeBufferPointer { input in
            _ = SHA256(input.baseAddress, input.count, &digest)
        }
        return digest
    }

    /// SHA-256 as 64 lower-case hex digits.
    public static func sha256Hex(_ bytes: some Collection<UInt8>) -> String { hex(sha256(bytes)) }

    /// CRC-32 (zlib's polynomial), for per-record integrity in logs.
    public static func crc32(_ bytes: some Collection<UInt8>) -> UInt32 {
        let contiguous = Array(bytes)
        return contiguous.withUnsafeBufferPointer { input in
            UInt32(CZlib.crc32(0, input.baseAddress, UInt32(input.count)))
        }
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
