import EsperJSON
import EsperStorage
import Foundation

/// The trainer's complete state at an epoch boundary: weights, optimizer moments, group
/// learning rates and step counts, seed-slot modules, counters. Restoring it and training on
/// gives bit-for-bit the same numbers as never having stopped.
///
/// File layout (little-endian): magic `ESPRCKPT`, UInt32 format version, UInt32 metadata
/// length, metadata JSON, then every tensor's float32 values in metadata order — all wrapped
/// by `ChecksummedFile` (SHA-256 trailer, atomic write), so a torn or altered file is
/// refused rather than loaded.
struct Checkpoint {
    static let magic = Array("ESPRCKPT".utf8)
    static let formatVersion: UInt32 = 1

    struct GroupState: Codable, Equatable {
        var name: String
        var learningRate: Float
        var frozen: Bool
        var step: Int64
    }

    struct SlotState: Codable, Equatable {
        var name: String
        /// nil: empty (identity).
        var kind: String?
        /// The module's own state, base64.
        var state: String?
    }

    struct TensorEntry: Codable, Equatable {
        var name: String
        var count: Int
    }

    struct Metadata: Codable {
        var runId: String
        var architecture: HostArchitecture
        /// Epochs completed: training resumes at this 0-based epoch.
        var epoch: Int
        var globalStep: Int64
        var groups: [GroupState]
        var slots: [SlotState]
        /// Training losses of the last good epochs (baseline for spike detection).
        var recentLosses: [Double]
        var rollbacks: Int
        var tensors: [TensorEntry]
        /// Training FLOPs up to this checkpoint (absent in checkpoints written before they were counted).
        var trainingFlops: Double? = nil
        /// The controller's germinations so far (absent in checkpoints written before they were kept).
        var germinations: Int? = nil
    }

    var metadata: Metadata
    var tensors: [[Float]]

    enum FormatError: Error, CustomStringConvertible {
        case invalid(String)
        var description: String { if case .invalid(let reason) = self { reason } else { "" } }
    }

    func encoded() throws -> [UInt8] {
        let meta = try JanssonEncoder().encode(metadata)
        var bytes = Checkpoint.magic
        bytes.reserveCapacity(16 + meta.count + tensors.reduce(0) { $0 + 4 * $1.count })
        withUnsafeBytes(of: Checkpoint.formatVersion.littleEndian) { bytes.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt32(meta.count).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: meta)
        for tensor in tensors {
            for value in tensor { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) throws -> Checkpoint {
        guard bytes.count >= 16, Array(bytes[0..<8]) == magic else { throw FormatError.invalid("not a Tolaria checkpoint") }
        func u32(_ at: Int) -> UInt32 { bytes[at..<(at + 4)].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        guard u32(8) == formatVersion else { throw FormatError.invalid("checkpoint format \(u32(8)) is not \(formatVersion)") }
        let metaLength = Int(u32(12))
        guard bytes.count >= 16 + metaLength else { throw FormatError.invalid("truncated metadata") }
        let metadata = try JanssonDecoder().decode(Metadata.self, from: bytes[16..<(16 + metaLength)])
        var offset = 16 + metaLength
        var tensors: [[Float]] = []
        for entry in metadata.tensors {
            guard entry.count >= 0, bytes.count - offset >= entry.count * 4 else {
                throw FormatError.invalid("truncated tensor \(entry.name)")
            }
            var values = [Float](repeating: 0, count: entry.count)
            values.withUnsafeMutableBytes { destination in
                bytes.withUnsafeBytes { source in
                    destination.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + entry.count * 4)]))
                }
            }
            // Stored little-endian; convert in place on a big-endian host.
            if UInt32(1).littleEndian != 1 {
                for i in values.indices { values[i] = Float(bitPattern: UInt32(littleEndian: values[i].bitPattern)) }
            }
            tensors.append(values)
            offset += entry.count * 4
        }
        guard offset == bytes.count else { throw FormatError.invalid("\(bytes.count - offset) trailing bytes") }
        return Checkpoint(metadata: metadata, tensors: tensors)
    }
}

/// A run's checkpoint files and the write-ahead record of the last good one:
/// `checkpoints/ckpt-epoch-000005.bin` files and `wal.json` = `{"last_checkpoint", "epoch"}`,
/// both written atomically with a checksum. The last `keep` checkpoints are kept; if the
/// newest is unreadable the next older one is used.
public final class CheckpointStore: Sendable {
    public let directory: String
    public let keep: Int

    public init(directory: String, keep: Int) {
        self.directory = directory
        self.keep = max(1, keep)
    }

    var checkpointDirectory: String { directory + "/checkpoints" }
    var walPath: String { directory + "/wal.json" }

    struct WALRecord: Codable {
        var lastCheckpoint: String
        var epoch: Int
    }

    static func fileName(epoch: Int) -> String {
        let digits = String(epoch)
        return "ckpt-epoch-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".bin"
    }

    func write(_ checkpoint: Checkpoint) throws {
        let name = CheckpointStore.fileName(epoch: checkpoint.metadata.epoch)
        try ChecksummedFile.write(try checkpoint.encoded(), to: checkpointDirectory + "/" + name)
        let record = WALRecord(lastCheckpoint: "checkpoints/" + name, epoch: checkpoint.metadata.epoch)
        try ChecksummedFile.write(try JanssonEncoder().encode(record), to: walPath)
        prune(newest: checkpoint.metadata.epoch)
    }

    /// Checkpoint files by epoch, newest first.
    func available() -> [(epoch: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointDirectory)) ?? []
        return names.compactMap { name -> (Int, String)? in
            guard name.hasPrefix("ckpt-epoch-"), name.hasSuffix(".bin"),
                let epoch = Int(name.dropFirst("ckpt-epoch-".count).dropLast(4))
            else { return nil }
            return (epoch, checkpointDirectory + "/" + name)
        }.sorted { $0.0 > $1.0 }
    }

    /// The newest intact checkpoint: the one the WAL names, else the newest readable file
    /// not newer than it. nil when there is none.
    func latest() -> Checkpoint? { latestReporting().checkpoint }

    /// A checkpoint file passed over because it could not be read.
    struct Skipped {
        var epoch: Int
        var path: String
        var reason: String
        /// Where the damaged file was moved (`<run>/quarantine/`), nil when it could not be.
        var quarantine: String?
    }

    /// `latest()`, and every newer checkpoint it had to pass over: each damaged file is moved
    /// to `<run dir>/quarantine/` and recorded in the repairs ledger (log line, counter), so
    /// the caller can say in the run's events which checkpoint was skipped and why.
    func latestReporting() -> (checkpoint: Checkpoint?, skipped: [Skipped]) {
        var candidates = available()
        if let walBytes = try? ChecksummedFile.read(walPath), let record = try? JanssonDecoder().decode(WALRecord.self, from: walBytes) {
            candidates.removeAll { $0.epoch > record.epoch }
        }
        var skipped: [Skipped] = []
        for candidate in candidates {
            let reason: String
            do {
                guard let payload = try ChecksummedFile.read(candidate.path) else { continue }
                return (try Checkpoint.decode(payload), skipped)
            } catch {
                reason = "\(error)"
            }
            let quarantine = directory + "/quarantine"
            let target = quarantine + "/" + (candidate.path as NSString).lastPathComponent + ".corrupt"
            let moved = (try? AtomicFile.createDirectory(quarantine)) != nil && rename(candidate.path, target) == 0
            Repairs.shared.record(
                RepairEvent(
                    component: "tolaria", file: candidate.path, reason: reason, action: "skipped",
                    quarantine: moved ? target : nil))
            skipped.append(Skipped(epoch: candidate.epoch, path: candidate.path, reason: reason, quarantine: moved ? target : nil))
        }
        return (nil, skipped)
    }

    private func prune(newest: Int) {
        for (index, entry) in available().enumerated() where index >= keep || entry.epoch > newest {
            AtomicFile.remove(entry.path)
        }
    }
}
