import EsperTestSupport
import Foundation
import Leyline
import Testing
import Tolaria

@testable import Tamiyo

/// The risk engine's memory-utilisation dimension (03-tamiyo §9: threshold 0.80, emergency
/// 0.95, weight 0.25, pre-check > 0.85 blocks): measured as this process's resident set
/// against a limit, and driven here by really allocating memory.
@Suite(.serialized) struct MemoryRiskTests {
    @Test func utilisationIsTheResidentSetAgainstTheLimit() throws {
        let resident = try #require(MemoryProbe.residentBytes(), "/proc/self/statm is readable on Linux")
        #expect(resident > 1 << 20, "a Swift test process holds more than 1 MiB")
        let probe = MemoryProbe(limitBytes: resident * 4)
        let share = probe.utilisation()
        #expect(share > 0.2 && share < 0.35, "about a quarter: \(share)")
        // The detected limit (cgroup or MemTotal) bounds an operator's larger one.
        let detected = try #require(MemoryProbe.detectLimit())
        probe.setLimit(detected * 2)
        #expect(probe.limitBytes == detected)
        probe.setLimit(nil)
        #expect(probe.limitBytes == detected && probe.utilisation() < 1)
    }

    /// Touches `bytes` of fresh anonymous memory (mmap: freed back to the system by munmap,
    /// unlike a malloc arena) and returns it for `release`.
    static func occupy(_ bytes: Int) throws -> UnsafeMutableRawPointer {
        let region = try #require(mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        try #require(region != MAP_FAILED)
        memset(region, 0x5A, bytes)  // every page resident
        return region
    }

    static func memoryRisk(_ report: RiskReport) -> RiskReport.Dimension? {
        report.dimensions.first { $0.name == RiskDimension.memory.rawValue }
    }

    /// The level moves with real memory use: a limit at ~1.45× today's resident set is GREEN;
    /// occupying 0.45× the limit more takes utilisation past the emergency value (risk 1,
    /// score 0.25: YELLOW) and the engine holds a germination with `memory_pressure`; giving
    /// the memory back brings the level down again.
    @Test func raisingMemoryUseMovesTheRiskLevel() throws {
        let resident = try #require(MemoryProbe.residentBytes())
        let limit = UInt64(Double(resident) / 0.69)
        let probe = MemoryProbe(limitBytes: limit)
        var assessor = RiskAssessor(escalationWindows: 1, recoveryWindows: 1)
        let engine = RiskEngine()
        func assess(_ epoch: Int) -> RiskReport {
            assessor.assess(RiskSignals([.memory: probe.utilisation()]), epoch: epoch, validationLoss: 1)
        }
        func germinate(_ report: RiskReport) -> RiskEngine.Verdict {
            engine.review(
                RiskLevelTests.germinate("BP002"), lossDelta: 0, hasPreviousLoss: true, conservative: false,
                settings: SeedSettings(), blueprint: { RiskLevelTests.info($0, tier: .safe) }, quarantined: { _ in nil },
                assessment: report)
        }

        let calm = assess(0)
        let calmMemory = try #require(MemoryRiskTests.memoryRisk(calm))
        #expect(calmMemory.value < 0.8 && calmMemory.risk == 0 && calm.level == .green, "\(calmMemory)")
        #expect(germinate(calm).command?.commandType == .seed, "below 0.85 a germination goes through")

        let bytes = Int(Double(limit) * 0.45)
        let region = try MemoryRiskTests.occupy(bytes)
        let pressed = assess(1)
        let pressedMemory = try #require(MemoryRiskTests.memoryRisk(pressed))
        #expect(pressedMemory.value > 0.95 && pressedMemory.risk == 1, "\(pressedMemory)")
        #expect(pressed.level == .yellow && pressed.leadingDimension == "memory_utilisation")
        #expect(abs(pressed.score - 0.25) < 1e-9, "the spec's weight")
        let held = germinate(pressed)
        #expect(held.command?.commandType == .pause && held.riskReason == "memory_pressure")
        #expect(held.command?.annotations["risk_dimension"] == "memory_utilisation")
        #expect(held.events.first?.attributes["memory_utilisation"] != nil)

        munmap(region, bytes)
        let relieved = assess(2)
        #expect(try #require(MemoryRiskTests.memoryRisk(relieved)).value < 0.8)
        #expect(relieved.level == .green, "back down once the memory is released")
    }

    /// In a real run the controller measures memory at every boundary: with the service's
    /// limit at 1 MiB the process is far past it, so the level climbs to YELLOW (memory's
    /// weight alone) and the heuristic's germination is held by the pre-check; the dimension
    /// shows on the policy endpoint's reports and in the run's telemetry.
    @Test func aRunUnderMemoryPressureDoesNotGrow() throws {
        let fixture = try ControlFixture { $0.memoryLimitBytes = 1 << 20 }
        let config = ControlLoopTests.acceptance(epochs: 230)
        let run = try fixture.run(config, id: "pressed")
        #expect(run.outcome == .completed)
        let history = run.controller.riskHistory
        #expect(history.allSatisfy { (MemoryRiskTests.memoryRisk($0)?.value ?? 0) > 1 && MemoryRiskTests.memoryRisk($0)?.risk == 1 })
        #expect(history.last?.level == .yellow && history.last?.leadingDimension == "memory_utilisation")
        let held = run.controller.commands.filter { $0.annotations["risk_reason"] == "memory_pressure" }
        #expect(!held.isEmpty, "the heuristic tried to germinate and was held")
        #expect(held.allSatisfy { $0.commandType == .pause && $0.annotations["original_command"] == "COMMAND_SEED/SEED_OP_GERMINATE" })
        #expect(held.allSatisfy { $0.annotations["risk_dimension"] == "memory_utilisation" })
        #expect(run.sink.summaries.last?.slots[0].parameters == 0, "nothing was grafted")
        let shown = try #require(fixture.service.policyInfo.risk.runs.first { $0.runId == "pressed" })
        #expect(
            shown.assessment.dimensions.contains { $0.name == "memory_utilisation" && $0.weight == 0.25 && $0.emergencyThreshold == 0.95 })

        // The limit is live: lifted, the same run config grows again.
        fixture.service.memory.setLimit(nil)
        let free = try fixture.run(config, id: "free")
        #expect(free.controller.riskHistory.last.flatMap(MemoryRiskTests.memoryRisk)?.risk == 0)
        #expect(free.controller.commands.contains { $0.annotations["risk_reason"] == nil && $0.commandType == .seed })
    }
}
