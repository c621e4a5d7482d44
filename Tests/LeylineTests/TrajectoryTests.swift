import EsperJSON
import Leyline
import Testing

/// The `FieldReport.trajectory` extension: round trip on both paths, omitted when empty,
/// validated like every other field.
@Suite struct TrajectoryTests {
    static func report(_ steps: [PolicyStep]) -> FieldReport {
        FieldReport(
            reportId: "fr-1", commandId: "cmd-1", trainingRunId: "run", seedId: "seed-1", blueprintId: "BP008", outcome: .success,
            metrics: ["loss_delta": -0.05], observationWindowEpochs: 1, issuedAt: .epoch, tamiyoPolicyVersion: "policy-init",
            trajectory: steps)
    }

    static let step = PolicyStep(
        epoch: 3, action: 1, validActions: 0b110011, features: [0.5, -1, 0], stageIndex: 2, blueprintIndex: 17,
        logits: [0.1, 2, 0, 0, -1, 0])

    @Test func roundTripsOnBothPathsAndIsOmittedWhenEmpty() throws {
        let report = TrajectoryTests.report([TrajectoryTests.step, PolicyStep(epoch: 4, action: 0, validActions: 1, features: [1])])
        let direct = try LeylineCodec.encode(report)
        #expect(try LeylineCodec.encodeWithJansson(report) == direct)
        for decoder in Decoders.all {
            #expect(try decoder.decode(FieldReport.self, String(decoding: direct, as: UTF8.self)) == report, "\(decoder.name)")
        }
        let empty = String(decoding: try LeylineCodec.encode(TrajectoryTests.report([])), as: UTF8.self)
        #expect(!empty.contains("trajectory"))
        #expect(!String(decoding: try LeylineCodec.encodeWithJansson(TrajectoryTests.report([])), as: UTF8.self).contains("trajectory"))
    }

    @Test func badStepsAreRefusedNamingTheField() throws {
        for decoder in Decoders.all {
            let error = try #require(throws: LeylineDecodingError.self) {
                _ = try decoder.decode(
                    FieldReport.self,
                    #"{"version":1,"report_id":"r","outcome":"FIELD_REPORT_OUTCOME_SUCCESS","trajectory":[{"action":40,"features":[1]}]}"#)
            }
            #expect("\(error)".contains("trajectory[0].action"), "\(decoder.name): \(error)")
        }
        var long = TrajectoryTests.report(Array(repeating: TrajectoryTests.step, count: FieldReport.maxTrajectorySteps + 1))
        #expect(throws: LeylineDecodingError.self) { try LeylineCodec.check(long) }
        long.trajectory = [PolicyStep(features: [.nan])]
        #expect(throws: LeylineDecodingError.self) { try LeylineCodec.check(long) }
    }
}
