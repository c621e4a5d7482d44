import Foundation
import Testing
import Tolaria
import Tamiyo
import Leyline

@Suite struct ExploreTests {
    @Test func explore() throws {
        guard ProcessInfo.processInfo.environment["ESPER_EXPLORE"] != nil else { return }
        let fixture = try ControlFixture()
        let config = ControlFixture.moons(epochs: Int(ProcessInfo.processInfo.environment["EPOCHS"] ?? "120")!) { s in
            s.plateauEpochs = Int(ProcessInfo.processInfo.environment["PLATEAU"] ?? "5")!
            if let b = ProcessInfo.processInfo.environment["BLUEPRINTS"] { s.blueprints = b.split(separator: ",").map(String.init) }
            s.approvedBlueprints = ["BP045"]
            let env = ProcessInfo.processInfo.environment
            if env["FROZEN"] != nil { s.hostFrozen = true }
            if let f = env["LRF"] { s.learningRateFactor = Float(f)! }
            if let w = env["WARM"] { s.learningRateWarmupEpochs = Int(w)! }
            if let m = env["MINTRAIN"] { s.minTrainingEpochs = Int(m)! }
            s.allowHighRisk = true
        }
        let run = try fixture.run(config)
        for s in run.sink.summaries { print("epoch \(s.epoch) train \(s.trainLoss) val \(s.validationLoss) acc \(s.validationAccuracy) seeds \(s.seeds?.map { "\($0.seedId):\($0.stage.name):\($0.metrics["alpha"] ?? -1)" } ?? [])") }
        for c in run.controller.commands { print(AdaptationCommandSummary(c), c.annotations["rationale"] ?? "", c.annotations["executed"] ?? "", c.annotations["refusal"] ?? "") }
        fixture.service.flush()
        for r in fixture.service.fieldReports.all { print(r.seedId, r.blueprintId, r.outcome.name, r.metrics, r.notes) }
    }
}
