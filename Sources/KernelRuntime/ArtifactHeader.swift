import EsperStorage

/// Flags byte of the artifact header.
public struct ArtifactFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// The template is quarantine-only: never served to production seeds.
    public static let quarantine = ArtifactFlags(rawValue: 1 << 0)
    /// The template needs an explicit approval before production use.
    public static let approval = ArtifactFlags(rawValue: 1 << 1)
    /// Variant timings were too noisy to trust; the kind's default variant was used.
    public static let autotuneNoisy = ArtifactFlags(rawValue: 1 << 2)
    /// The kernel is expected to fail validation (adversarial templates); failures did not
    /// fail the compile.
    public static let expectedUnsafe = ArtifactFlags(rawValue: 1 << 3)
}

/// The fixed 256-byte little-endian header of an `.esk` artifact (06 §8). It is checked by a
/// CRC-32 of its first 252 bytes and carries the SHA-256 of everything after it, so a reader
/// can reject a damaged file from the header alone (cheap) or from the body hash (complete).
public struct ArtifactHeader: Sendable, Equatable {
    public static let size = 256
    public static let magic: [UInt8] = Array("ESPKRNL1".utf8)
    public static let currentFormatVersion: UInt32 = 1
    static let endianMarker: UInt32 = 0x1234_5678
    static let dtypeFloat32: UInt32 = 1
    static let blueprintIdBytes = 32

    public var formatVersion = ArtifactHeader.currentFormatVersion
    public var kind: UInt32 = 0
    public var blueprintId = ""
    public var tier: UInt8 = 0
    public var flags: ArtifactFlags = []
    public var stage: UInt16 = 0
    public var seed: UInt64 = 0
    public var paramsSHA256 = [UInt8](repeating: 0, count: 32)
    public var width: UInt32 = 0
    public var outDim: UInt32 = 0
    public var batchHint: UInt32 = 0
    public var variantId: UInt32 = 0
    public var tile: [UInt32] = [0, 0, 0]
    public var tensorCount: UInt32 = 0
    public var metaOffset: UInt64 = 0
    public var metaLength: UInt64 = 0
    public var dataOffset: UInt64 = 0
    public var dataLength: UInt64 = 0
    public var weightsSHA256 = [UInt8](repeating: 0, count: 32)
    public var bodySHA256 = [UInt8](repeating: 0, count: 32)
    public var createdUnixNs: UInt64 = 0

    public init() {}

    /// The 256 bytes, CRC included.
    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.append(ArtifactHeader.magic)
        w.u32(formatVersion)
        w.u32(UInt32(ArtifactHeader.size))
        w.u32(ArtifactHeader.endianMarker)
        w.u32(kind)
        var id = Array(blueprintId.utf8.prefix(ArtifactHeader.blueprintIdBytes - 1))
        id += [UInt8](repeating: 0, count: ArtifactHeader.blueprintIdBytes - id.count)
        w.append(id)
        w.u8(tier)
        w.u8(flags.rawValue)
        w.u16(stage)
        w.u32(ArtifactHeader.dtypeFloat32)
        w.u64(seed)
        w.append(paramsSHA256)
        w.u32(width)
        w.u32(outDim)
        w.u32(batchHint)
        w.u32(variantId)
        for value in tile { w.u32(value) }
        w.u32(tensorCount)
        w.u64(metaOffset)
        w.u64(metaLength)
        w.u64(dataOffset)
        w.u64(dataLength)
        w.append(weightsSHA256)
        w.append(bodySHA256)
        w.u64(createdUnixNs)
        w.append([UInt8](repeating: 0, count: 12))
        w.u32(Checksum.crc32(w.bytes))
        return w.bytes
    }

    /// Parses and checks the first 256 bytes: magic, version, size, endianness, dtype, CRC.
    public static func decode(_ bytes: ArraySlice<UInt8>) throws(ArtifactError) -> ArtifactHeader {
        guard bytes.count >= size else { throw ArtifactError.truncated(bytes.count) }
        let r = ByteReader(bytes.prefix(size))
        guard Array(r.bytes(0, 8)) == magic else { throw ArtifactError.badMagic }
        var h = ArtifactHeader()
        h.formatVersion = r.u32(8)
        // Checked before the CRC: a newer writer may have changed the layout the CRC covers.
        guard h.formatVersion <= currentFormatVersion else { throw ArtifactError.unsupportedFormat(h.formatVersion) }
        guard Checksum.crc32(r.bytes(0, 252)) == r.u32(252) else { throw ArtifactError.headerChecksum }
        guard h.formatVersion >= 1, r.u32(12) == UInt32(size) else { throw ArtifactError.badHeader("header size \(r.u32(12))") }
        guard r.u32(16) == endianMarker else { throw ArtifactError.badHeader("endian marker") }
        guard r.u32(60) == dtypeFloat32 else { throw ArtifactError.badHeader("dtype \(r.u32(60))") }
        h.kind = r.u32(20)
        h.blueprintId = String(decoding: r.bytes(24, 32).prefix(while: { $0 != 0 }), as: UTF8.self)
        h.tier = r.u8(56)
        h.flags = ArtifactFlags(rawValue: r.u8(57))
        h.stage = r.u16(58)
        h.seed = r.u64(64)
        h.paramsSHA256 = Array(r.bytes(72, 32))
        h.width = r.u32(104)
        h.outDim = r.u32(108)
        h.batchHint = r.u32(112)
        h.variantId = r.u32(116)
        h.tile = [r.u32(120), r.u32(124), r.u32(128)]
        h.tensorCount = r.u32(132)
        h.metaOffset = r.u64(136)
        h.metaLength = r.u64(144)
        h.dataOffset = r.u64(152)
        h.dataLength = r.u64(160)
        h.weightsSHA256 = Array(r.bytes(168, 32))
        h.bodySHA256 = Array(r.bytes(200, 32))
        h.createdUnixNs = r.u64(232)
        return h
    }

    /// The file size this header describes.
    public var fileSize: UInt64 { dataOffset &+ dataLength }
}

/// Little-endian byte building.
struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append(_ data: some Collection<UInt8>) { bytes.append(contentsOf: data) }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func pad(toMultipleOf alignment: Int) {
        let remainder = bytes.count % alignment
        if remainder != 0 { bytes.append(contentsOf: [UInt8](repeating: 0, count: alignment - remainder)) }
    }
}

/// Little-endian reads at absolute offsets of a slice (offsets relative to its start).
struct ByteReader {
    let data: ArraySlice<UInt8>
    init(_ data: ArraySlice<UInt8>) { self.data = data }
    func bytes(_ offset: Int, _ count: Int) -> ArraySlice<UInt8> {
        let start = data.startIndex + offset
        return data[start..<start + count]
    }
    func u8(_ offset: Int) -> UInt8 { data[data.startIndex + offset] }
    func u16(_ offset: Int) -> UInt16 { UInt16(u8(offset)) | UInt16(u8(offset + 1)) << 8 }
    func u32(_ offset: Int) -> UInt32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(u8(offset + i)) << (8 * i) }
        return value
    }
    func u64(_ offset: Int) -> UInt64 { UInt64(u32(offset)) | UInt64(u32(offset + 4)) << 32 }
}
