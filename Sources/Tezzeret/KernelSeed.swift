import EsperStorage

/// The deterministic identity of a compiled kernel (06 §4 step 4): the same blueprint,
/// effective parameters, width and global seed always give the same seed and weights.
enum KernelSeed {
    /// SHA-256 over the parameters sorted by key bytes, each `key ‖ 0x00 ‖ value (f64 LE)`.
    static func paramsSHA256(_ parameters: [String: Double]) -> [UInt8] {
        var bytes: [UInt8] = []
        for key in parameters.keys.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
            bytes += Array(key.utf8)
            bytes.append(0)
            withUnsafeBytes(of: parameters[key]!.bitPattern.littleEndian) { bytes += $0 }
        }
        return Checksum.sha256(bytes)
    }

    /// First 8 bytes (little-endian) of SHA-256("esper-kernel-seed/v1" ‖ id ‖ params_sha256 ‖ global seed LE).
    static func seed(blueprintId: String, paramsSHA256: [UInt8], globalSeed: UInt64) -> UInt64 {
        var bytes = Array("esper-kernel-seed/v1".utf8) + Array(blueprintId.utf8) + paramsSHA256
        withUnsafeBytes(of: globalSeed.littleEndian) { bytes += $0 }
        let digest = Checksum.sha256(bytes)
        return digest.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}
