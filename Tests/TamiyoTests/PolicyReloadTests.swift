import EsperStorage
import EsperTestSupport
import Foundation
import Kasmina
import Leyline
import Logging
import Tamiyo
import TamiyoNetwork
import Testing
import Tolaria

/// Hot reload of Simic's policies: learned runs adopt new weights at an epoch boundary, the
/// last known good weights survive a corrupt file, rollback; field reports carry the decisions.
@Suite struct PolicyReloadTests {
    /// Weights whose action head always prefers `action` (a large bias).
    static func always(_ action: PolicyAction, version: String) throws -> PolicyWeights {
        let initial = PolicyWeights.initial()
        var values = initial.values
        var offset = 0
        for tensor in PolicyWeights.layout(initial.config) {
            if tensor.name == "action.bias" { values[offset + action.rawValue] = 100 }
            offset += tensor.count
        }
        return try PolicyWeights(config: initial.config, values: values, policyVersion: version)
    }

    @Test func aLearnedRunAdoptsNewWeightsAtItsNextBoundary() throws {
        let fixture = try ControlFixture()
        let config = ControlFixture.moons(epochs: 6, policy: .learned)
        // The controller is built with the weights of generation 0 …
        let controller = try #require(fixture.service.makeController(runId: "reload", config: config) as? TamiyoController)
        // … and new weights arrive before its first boundary.
        try fixture.service.install(weights: try PolicyReloadTests.always(.optimizer, version: "always-optimizer"))
        let data = try DatasetLoader(directory: "/nonexistent").load(config.dataset, runSeed: config.seed)
        let split = DataSplit(
            data, validationFraction: config.dataset.validationFraction, seed: config.seed, scaling: config.dataset.effectiveScaling)
        _ = try Trainer(
            runId: "reload", config: config, split: split, checkpoints: nil, sink: InMemoryTrainingSink(), controller: controller
        ).run()
        #expect(controller.commands.count == 6)
        #expect(controller.commands.allSatisfy { $0.commandType == .optimizer && $0.annotations["policy_version"] == "always-optimizer" })
    }

    @Test func theLastKnownGoodSurvivesACorruptFileAndRollbackPersists() throws {
        let directory = TemporaryDirectory("tamiyo-reload")
        func open() throws -> TamiyoService {
            let library = try BlueprintLibraryFixture(width: 16, blueprints: ["BP001"])
            var logger = Logger(label: "t")
            logger.logLevel = .critical
            return try TamiyoService(
                settings: TamiyoSettings(directory: directory.path), karn: library.catalog, urza: library.urza,
                kernels: UrzaKernelProvider(urza: library.urza), bus: nil, logger: logger)
        }
        let a = try PolicyReloadTests.always(.wait, version: "policy-a")
        let b = try PolicyReloadTests.always(.pause, version: "policy-b")
        do {
            let service = try open()
            try service.install(weights: a)
            try service.install(weights: b)
            #expect(
                service.policyInfo.version == "policy-b" && service.policyInfo.rollbackVersions.prefix(2) == ["policy-a", "policy-init"])
            service.stop()
        }
        // Corrupt the current file: the service refuses it and runs the last known good one.
        let path = directory.path + "/policy_weights.bin"
        var bytes = try #require(FileManager.default.contents(atPath: path))
        bytes[bytes.count - 9] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
        do {
            let service = try open()
            #expect(service.policyInfo.version == "policy-a")
            #expect(service.policyInfo.lastRefusal?.contains("policy_weights.bin") == true)
            // A refused update leaves it alone.
            var payload = b.encoded()
            payload[20] ^= 0xFF
            #expect(throws: (any Error).self) {
                _ = try service.ingest(PolicyUpdate(policyId: "p", issuedAt: .now(), payload: LeylineBytes(payload)))
            }
            #expect(service.policyInfo.version == "policy-a")
            // A good one is taken; rollback returns to policy-a and that survives a restart.
            try service.ingest(
                PolicyUpdate(policyId: "p", issuedAt: .now(), tamiyoPolicyVersion: "policy-b", payload: LeylineBytes(b.encoded())))
            #expect(service.policyInfo.version == "policy-b")
            #expect(try service.rollback().policyVersion == "policy-a")
            service.stop()
        }
        let reopened = try open()
        #expect(reopened.policyInfo.version == "policy-a")
        reopened.stop()
    }

    @Test func fieldReportsCarryTheDecisionsThatLedToThem() throws {
        let fixture = try ControlFixture()
        let run = try fixture.run(ControlLoopTests.acceptance(), id: "trajectory")
        fixture.service.flush()
        let report = try #require(fixture.service.fieldReports.all.first { $0.trainingRunId == "trajectory" })
        let steps = report.trajectory
        // Every boundary from the start of the run to the seed's end, in order.
        #expect(steps.first?.epoch == UInt32(run.sink.summaries[0].epoch))
        #expect(zip(steps, steps.dropFirst()).allSatisfy { $0.epoch + 1 == $1.epoch })
        #expect(steps.count > 100 && steps.count < run.sink.summaries.count)
        #expect(steps.allSatisfy { $0.features.count == PolicyNetworkConfig().featureDim && $0.validActions & (1 << $0.action) != 0 })
        #expect(steps.allSatisfy { $0.logits.isEmpty })  // the heuristic has no logits
        #expect(steps.filter { $0.action == UInt32(PolicyAction.germinate.rawValue) }.count == 1)
        #expect(steps.last?.action == UInt32(PolicyAction.advance.rawValue))
        // It survives the log and the wire format.
        let decoded = try LeylineCodec.decode(FieldReport.self, from: try LeylineCodec.encode(report))
        #expect(decoded.trajectory == steps)
    }
}
