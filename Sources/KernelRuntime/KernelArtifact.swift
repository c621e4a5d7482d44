public import EsperJSON
import EsperStorage

/// A compiled kernel as an `.esk` file (06 §8): the 256-byte header, then the body —
/// metadata JSON (sorted keys, doubles that round-trip), a 64-byte-per-entry tensor table, and
/// the float32 tensors, each aligned to 64 bytes.
///
/// Body layout (offsets absolute): metadata at 256; the tensor table at the next multiple of 64
/// after it; the data section at the next multiple of 64 after the table. Table entry: name[24]
/// NUL-padded, ndim u32, dims u32 x 4, offset u64 (absolute), nbytes u64, reserved u32.
/// `weights_sha256` hashes the tensors' bytes concatenated in table order without padding (the
/// parameter buffer), so it identifies the weights independently of the file layout.
public struct KernelArtifact: Sendable, Equatable {
    /// The Urza size limit.
    public static let maxBytes = 100 * 1024 * 1024
    static let tableEntryBytes = 64
    static let alignment = 64

    public var blueprintId: String
    public var tier: UInt8
    public var flags: ArtifactFlags
    public var stage: UInt16
    public var seed: UInt64
    public var paramsSHA256: [UInt8]
    public var batchHint: UInt32
    public var spec: KernelSpec
    public var weights: [Float]
    public var createdUnixNs: UInt64
    /// Compile details (parameters, descriptor snapshot, autotune, validation, host). The
    /// `kernel` and `blueprint_id` keys are written from `spec` and `blueprintId`.
    public var metadata: [String: JSONValue]

    public init(
        blueprintId: String, tier: UInt8, flags: ArtifactFlags, stage: UInt16, seed: UInt64,
        paramsSHA256: [UInt8], batchHint: UInt32, spec: KernelSpec, weights: [Float],
        createdUnixNs: UInt64, metadata: [String: JSONValue]
    ) {
        self.blueprintId = blueprintId
        self.tier = tier
        self.flags = flags
        self.stage = stage
        self.seed = seed
        self.paramsSHA256 = paramsSHA256
        self.batchHint = batchHint
        self.spec = spec
        self.weights = weights
        self.createdUnixNs = createdUnixNs
        self.metadata = metadata
    }

    public var weightsSHA256: String { WeightDigest.sha256Hex(weights) }

    /// The file's bytes.
    public func encode() throws -> [UInt8] {
        try spec.validate()
        let tensors = spec.tensors
        guard weights.count == spec.parameterCount else {
            throw KernelError.wrongLength(argument: "weights", expected: spec.parameterCount, actual: weights.count)
        }
        var meta = metadata
        meta["kernel"] = try JanssonEncoder().encodeValue(spec)
        meta["blueprint_id"] = .string(blueprintId)
        let metaBytes = try JSONValue.object(meta).serialized()

        var body = ByteWriter()
        body.bytes = [UInt8](repeating: 0, count: ArtifactHeader.size)  // header placeholder
        body.append(metaBytes)
        body.pad(toMultipleOf: KernelArtifact.alignment)
        let tableOffset = body.bytes.count
        var dataOffset = tableOffset + tensors.count * KernelArtifact.tableEntryBytes
        dataOffset += (KernelArtifact.alignment - dataOffset % KernelArtifact.alignment) % KernelArtifact.alignment
        var tensorOffsets: [Int] = []
        var cursor = dataOffset
        for tensor in tensors {
            tensorOffsets.append(cursor)
            cursor += tensor.count * 4
            cursor += (KernelArtifact.alignment - cursor % KernelArtifact.alignment) % KernelArtifact.alignment
        }
        for (tensor, offset) in zip(tensors, tensorOffsets) {
            var entry = ByteWriter()
            var name = Array(tensor.name.utf8.prefix(23))
            name += [UInt8](repeating: 0, count: 24 - name.count)
            entry.append(name)
            entry.u32(UInt32(tensor.shape.count))
            for i in 0..<4 { entry.u32(UInt32(i < tensor.shape.count ? tensor.shape[i] : 1)) }
            entry.u64(UInt64(offset))
            entry.u64(UInt64(tensor.count * 4))
            entry.u32(0)
            body.append(entry.bytes)
        }
        body.pad(toMultipleOf: KernelArtifact.alignment)
        precondition(body.bytes.count == dataOffset)
        for (tensor, offset) in zip(tensors, tensorOffsets) {
            body.bytes += [UInt8](repeating: 0, count: offset - body.bytes.count)
            body.append(WeightDigest.bytes(Array(weights[tensor.offset..<tensor.offset + tensor.count])))
        }
        body.bytes += [UInt8](repeating: 0, count: cursor - body.bytes.count)
        guard body.bytes.count <= KernelArtifact.maxBytes else { throw ArtifactError.tooLarge(body.bytes.count) }

        var header = ArtifactHeader()
        header.kind = spec.kind.code
        header.blueprintId = blueprintId
        header.tier = tier
        header.flags = flags
        header.stage = stage
        header.seed = seed
        header.paramsSHA256 = paramsSHA256
        header.width = UInt32(spec.width)
        header.outDim = UInt32(spec.width)
        header.batchHint = batchHint
        header.variantId = spec.variant.id
        let tile = spec.variant.tile
        header.tile = [tile.m, tile.n, tile.k]
        header.tensorCount = UInt32(tensors.count)
        header.metaOffset = UInt64(ArtifactHeader.size)
        header.metaLength = UInt64(metaBytes.count)
        header.dataOffset = UInt64(dataOffset)
        header.dataLength = UInt64(cursor - dataOffset)
        header.weightsSHA256 = Checksum.sha256(WeightDigest.bytes(weights))
        header.bodySHA256 = Checksum.sha256(body.bytes[ArtifactHeader.size...])
        header.createdUnixNs = createdUnixNs
        body.bytes.replaceSubrange(0..<ArtifactHeader.size, with: header.encode())
        return body.bytes
    }

    /// Parses and checks a whole file. `verifyBody: false` skips the body SHA-256 (for bytes
    /// whose file hash was already verified in this process); every structural check and the
    /// weights hash still run.
    public static func decode(_ bytes: [UInt8], verifyBody: Bool = true) throws(ArtifactError) -> KernelArtifact {
        guard bytes.count <= maxBytes else { throw ArtifactError.tooLarge(bytes.count) }
        let header = try ArtifactHeader.decode(bytes[...])
        guard header.fileSize == UInt64(bytes.count) else {
            throw ArtifactError.truncated(bytes.count)
        }
        if verifyBody && Checksum.sha256(bytes[ArtifactHeader.size...]) != header.bodySHA256 {
            throw ArtifactError.bodyChecksum
        }
        guard header.metaOffset == UInt64(ArtifactHeader.size),
            header.metaLength <= UInt64(bytes.count) - header.metaOffset
        else {
            throw ArtifactError.inconsistent("metadata range")
        }
        let metaEnd = Int(header.metaOffset + header.metaLength)
        guard case .object(var metadata)? = try? JSONValue.parse(bytes[ArtifactHeader.size..<metaEnd]) else {
            throw ArtifactError.inconsistent("metadata is not a JSON object")
        }
        guard let kernelJSON = metadata.removeValue(forKey: "kernel"),
            let spec = try? JanssonDecoder().decode(KernelSpec.self, from: kernelJSON)
        else {
            throw ArtifactError.inconsistent("metadata has no valid kernel spec")
        }
        guard metadata.removeValue(forKey: "blueprint_id")?.stringValue == header.blueprintId else {
            throw ArtifactError.inconsistent("blueprint id differs between header and metadata")
        }
        do { try spec.validate() } catch { throw ArtifactError.inconsistent("\(error)") }
        guard spec.kind.code == header.kind, UInt64(spec.width) == UInt64(header.width), header.outDim == header.width,
            spec.variant.id == header.variantId,
            [spec.variant.tile.m, spec.variant.tile.n, spec.variant.tile.k] == header.tile
        else {
            throw ArtifactError.inconsistent("header kind/width/variant differ from the metadata spec \(spec)")
        }
        let tensors = spec.tensors
        guard header.tensorCount == UInt32(tensors.count) else {
            throw ArtifactError.inconsistent("\(header.tensorCount) tensors in the header, \(tensors.count) in the spec")
        }
        var tableOffset = metaEnd
        tableOffset += (alignment - tableOffset % alignment) % alignment
        guard tableOffset + tensors.count * tableEntryBytes <= bytes.count else { throw ArtifactError.truncated(bytes.count) }
        let reader = ByteReader(bytes[...])
        var weights = [Float](repeating: 0, count: spec.parameterCount)
        for (index, tensor) in tensors.enumerated() {
            let entry = tableOffset + index * tableEntryBytes
            let name = String(decoding: reader.bytes(entry, 24).prefix(while: { $0 != 0 }), as: UTF8.self)
            let ndim = Int(reader.u32(entry + 24))
            let dims = (0..<4).map { Int(reader.u32(entry + 28 + 4 * $0)) }
            let offset = reader.u64(entry + 44), nbytes = reader.u64(entry + 52)
            let expectedDims = tensor.shape + [Int](repeating: 1, count: 4 - tensor.shape.count)
            guard name == tensor.name, ndim == tensor.shape.count, dims == expectedDims,
                nbytes == UInt64(tensor.count * 4), offset % UInt64(alignment) == 0,
                offset >= header.dataOffset, offset <= UInt64(bytes.count), nbytes <= UInt64(bytes.count) - offset
            else {
                throw ArtifactError.inconsistent("tensor table entry \(index) (\(name)) does not match \(tensor.name) \(tensor.shape)")
            }
            WeightDigest.load(from: bytes, at: Int(offset), count: tensor.count, into: &weights, at: tensor.offset)
        }
        guard Checksum.sha256(WeightDigest.bytes(weights)) == header.weightsSHA256 else {
            throw ArtifactError.weightsChecksum
        }
        return KernelArtifact(
            blueprintId: header.blueprintId, tier: header.tier, flags: header.flags, stage: header.stage,
            seed: header.seed, paramsSHA256: header.paramsSHA256, batchHint: header.batchHint,
            spec: spec, weights: weights, createdUnixNs: header.createdUnixNs, metadata: metadata)
    }

    /// The runnable kernel these bytes describe.
    public func compiledKernel(artifactSHA256: String? = nil) throws(KernelError) -> CompiledKernel {
        try CompiledKernel(
            blueprintId: blueprintId, spec: spec, weights: weights, seed: seed,
            artifactSHA256: artifactSHA256, quarantined: flags.contains(.quarantine))
    }
}
