import EsperStorage
import Foundation
public import Leyline
public import TamiyoNetwork

/// Publication of validated policies: a version number from the store, the weight file in
/// `<data>/simic/policies/<version>.bin` (TamiyoNetwork's format inside EsperStorage's
/// checksummed atomic file), a `PolicyRecord`, then one `PolicyUpdate` announcement (the
/// payload is the same bytes; each update is announced once, never re-published).
public final class PolicyPublisher: Sendable {
    public let directory: String
    let store: SimicStore
    let announce: @Sendable (PolicyUpdate) throws -> Void

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

    /// A stored policy, verified (checksum, network, shapes).
    public func load(_ version: String) throws -> PolicyWeights {
        guard version.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }),
            let bytes = try ChecksummedFile.read(directory + "/\(version).bin")
        else { throw PolicyWeightsError("no stored policy \(version)") }
        return try PolicyWeights(decoding: bytes)
    }
}
