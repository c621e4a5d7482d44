import EsperStorage

/// The canonical byte form of a weight buffer (little-endian IEEE-754 float32), which the
/// artifact stores and `weights_sha256` hashes. On little-endian hosts (every platform we run
/// on) that is the in-memory form, so conversions are plain copies.
enum WeightDigest {
    static let hostIsLittleEndian = UInt32(1).littleEndian == 1

    static func bytes(_ weights: [Float]) -> [UInt8] {
        if hostIsLittleEndian {
            return weights.withUnsafeBytes { Array($0) }
        }
        var out = [UInt8]()
        out.reserveCapacity(weights.count * 4)
        for value in weights {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Reads `count` little-endian floats at byte `offset` of `bytes` into `weights[start...]`.
    static func load(from bytes: [UInt8], at offset: Int, count: Int, into weights: inout [Float], at start: Int) {
        guard count > 0 else { return }
        if hostIsLittleEndian {
            bytes.withUnsafeBytes { source in
                weights.withUnsafeMutableBytes { target in
                    target.baseAddress!.advanced(by: start * 4)
                        .copyMemory(from: source.baseAddress!.advanced(by: offset), byteCount: count * 4)
                }
            }
            return
        }
        for i in 0..<count {
            var bits: UInt32 = 0
            for b in 0..<4 { bits |= UInt32(bytes[offset + 4 * i + b]) << (8 * b) }
            weights[start + i] = Float(bitPattern: bits)
        }
    }

    static func sha256Hex(_ weights: [Float]) -> String { Checksum.sha256Hex(bytes(weights)) }
}
