import EsperStorage
import EsperTestSupport
import Foundation
import Testing

@testable import Simic
@testable import TamiyoNetwork

/// Published policy files are verified when read and when listed (issue 16): a damaged one is
/// refused, shows `corrupt: …` as its status, and leaves a trace (repairs ledger, a copy in
/// quarantine).
@Suite struct PolicyFileTests {
    @Test func aDamagedPolicyFileIsRefusedListedAsCorruptAndKept() throws {
        let directory = TemporaryDirectory("simic-policies")
        let store = try SimicStore(path: directory.path + "/simic.db")
        let publisher = try PolicyPublisher(directory: directory.path + "/policies", store: store, announce: { _ in })
        let initial = PolicyWeights.initial()
        let evaluation = PolicyEvaluation(
            averageReward: 1, policyLoss: 0, valueLoss: 0, paramLoss: 0, policyEntropy: 1, outOfSupport: 0, reports: 1, steps: 1)
        let published = try publisher.publish(
            initial.values, config: initial.config, jobId: "job-1",
            validation: ValidationResult(passed: true, reasons: [], metrics: evaluation))
        let record = published.record
        #expect(publisher.fileStatus(record) == "ok")
        #expect(try publisher.load(record.version).sha256 == record.sha256)

        var bytes = try #require(FileManager.default.contents(atPath: record.path))
        bytes[bytes.count / 2] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: record.path))
        #expect(publisher.fileStatus(record).hasPrefix("corrupt: "))
        #expect(publisher.fileStatus(record).contains("checksum mismatch"))
        #expect(throws: (any Error).self) { try publisher.load(record.version) }
        let trace = try #require(Repairs.shared.recent.last { $0.component == "simic" && $0.file == record.path })
        #expect(trace.action == "rejected")
        let kept = try #require(trace.quarantine)
        #expect(FileManager.default.contents(atPath: kept) == Data(bytes))

        try FileManager.default.removeItem(atPath: record.path)
        #expect(publisher.fileStatus(record) == "missing")
    }
}
