import EsperStorage
import Foundation
public import Leyline
import Synchronization
public import TamiyoNetwork

/// Publication of validated policies: a version number from the store, the weight file in
/// `<data>/simic/policies/<version>.bin` (TamiyoNetwork's format inside EsperStorage's
/// checksummed atomic file), a `PolicyRecord`, then one `PolicyUpdate` announcement (the
/// payload is the same bytes; each update is announced once, never re-published).
public final class PolicyPublisher: Sendable {
    public let directory: String
    let store: SimicStore
    let announce: @Sendable (PolicyUpdate) throws -> Void
    private let reported = Mutex(Set<String>())

    public init(directory: String, store: SimicStore, announce: @escaping @Sendable (PolicyUpdate) throws -> Void) throws {
        self.directory = directory
        self.store = store
        self.announce = announce
        try AtomicFile.createDirectory(directory)
    }

    public struct Published: Sendable {
        public var record: PolicyRecord
        public var announceError: String?
    }

    public func publish(_ values: [Float], config: PolicyNetworkConfig, jobId: String, validation: ValidationResult) throws -> Published {
        let version = "simic-v\(try store.nextPolicyNumber())"
        let weights = try PolicyWeights(config: config, values: values, policyVersion: version)
        let bytes = weights.encoded()
        let path = directory + "/\(version).bin"
        try ChecksummedFile.write(bytes, to: path)
        var record = PolicyRecord(
            version: version, policyId: UUID().uuidString.lowercased(), jobId: jobId, createdAt: LeylineTimestamp.now().rfc3339,
            sha256: weights.sha256, parameters: values.count, path: path, announced: false, validation: validation)
        try store.save(record)
        let update = PolicyUpdate(
            policyId: record.policyId, trainingRunId: jobId, issuedAt: .now(), tamiyoPolicyVersion: version, payload: LeylineBytes(bytes))
        do {
            try announce(update)
            record.announced = true
            try store.save(record)
            return Published(record: record, announceError: nil)
        } catch {
            return Published(record: record, announceError: "\(error)")
        }
    }

    /// A stored policy, verified (checksum, network, shapes). A damaged file is refused
    /// with a trace (log line and counter through the repairs ledger, a copy in quarantine).
    public func load(_ version: String) throws -> PolicyWeights {
        guard version.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else {
            throw PolicyWeightsError("no stored policy \(version)")
        }
        let path = directory + "/\(version).bin"
        do {
            guard let bytes = try ChecksummedFile.read(path) else { throw PolicyWeightsError("no stored policy \(version)") }
            return try PolicyWeights(decoding: bytes)
        } catch let error as ChecksummedFile.ReadError {
            reportDamage(path, "\(error)")
            throw error
        } catch let error as PolicyWeightsError {
            if AtomicFile.exists(path) { reportDamage(path, "\(error)") }
            throw error
        }
    }

    /// The stored policy file of `record`, verified: `ok`, `missing` or `corrupt: <reason>`.
    public func fileStatus(_ record: PolicyRecord) -> String {
        let path = directory + "/\(record.version).bin"
        do {
            guard let bytes = try ChecksummedFile.read(path) else { return "missing" }
            let weights = try PolicyWeights(decoding: bytes)
            guard weights.sha256 == record.sha256 else {
                reportDamage(path, "weights do not match the recorded sha256")
                return "corrupt: weights do not match the recorded sha256"
            }
            return "ok"
        } catch {
            let reason = "\(error)"
            reportDamage(path, reason)
            return "corrupt: \(reason)"
        }
    }

    /// Once per damaged file (per process): the repairs ledger and a copy in
    /// `<policies>/quarantine/`. The file stays where it is (its record names it); it is
    /// refused every time it is read.
    private func reportDamage(_ path: String, _ reason: String) {
        let first = reported.withLock { $0.insert(path).inserted }
        guard first else { return }
        let kept = (try? AtomicFile.read(path)).flatMap { $0 }.flatMap {
            Repairs.keep($0, name: (path as NSString).lastPathComponent, directory: directory)
        }
        Repairs.shared.record(RepairEvent(component: "simic", file: path, reason: reason, action: "rejected", quarantine: kept))
    }
}
