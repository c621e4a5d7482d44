import EsperServer
import EsperTestSupport
import Foundation
import Testing

/// Tamiyo's risk engine on `/metrics` of a live server (real redis-server, real HTTP, runs
/// with a seed): the level, the score and every dimension per run, with values that follow
/// the risk — here the memory dimension, moved by lowering the memory limit between runs.
@Suite(.serialized) struct RiskMetricsTests {
    /// The value of the series `name` with label run="id" in a Prometheus exposition.
    static func value(_ exposition: String, _ name: String, run: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(name + "{") && line.contains("run=\"\(run)\"") {
            if let last = line.split(separator: " ").last, let number = Double(last) { return number }
        }
        return nil
    }

    struct RunRisk {
        var level, score, memoryRisk, memoryUtilisation: Double
        var dimensions: [String: Double]
    }

    /// Waits until the run's risk series are on /metrics (telemetry reaches Nissa over the bus).
    static func risk(_ server: ServerHarness, run: String) throws -> RunRisk {
        var found: RunRisk?
        _ = try eventually(within: 30) {
            let text = try server.get("/metrics").text
            guard let level = value(text, "esper_tamiyo_risk_level", run: run),
                let score = value(text, "esper_tamiyo_risk_score", run: run),
                let memoryRisk = value(text, "esper_tamiyo_risk_memory_utilisation", run: run),
                let memory = value(text, "esper_tamiyo_memory_utilisation", run: run)
            else { return false }
            var dimensions: [String: Double] = [:]
            for name in ["loss_trend", "gradient_health", "isolation", "latency", "drift", "seed_count", "parameter_growth"] {
                dimensions[name] = value(text, "esper_tamiyo_risk_\(name)", run: run)
            }
            found = RunRisk(level: level, score: score, memoryRisk: memoryRisk, memoryUtilisation: memory, dimensions: dimensions)
            return true
        }
        return try #require(found, "the risk series of \(run) never reached /metrics")
    }

    @Test func metricsShowTheRiskLevelAndDimensionsAsTheyChange() throws {
        let server = try ServerHarness(environment: ServerHarness.controlEnvironment) { $0.maxConcurrentRuns = 1 }
        try server.compile([("BP008", "{}")])

        // A run that grows (BP008 grafted on its plateau) with memory far below the limit.
        let calm = try server.submit(AcceptanceRun.helpful)
        #expect(try server.waitFor(calm, status: "succeeded", within: 300))
        #expect(try server.seeds(calm).count == 1, "a run with a seed")
        let before = try RiskMetricsTests.risk(server, run: calm)
        #expect(before.memoryRisk == 0 && before.memoryUtilisation > 0 && before.memoryUtilisation < 0.8, "\(before)")
        #expect(before.dimensions.count == 7, "every dimension is exported: \(before.dimensions)")
        #expect(before.level < 1, "GREEN at the end of a calm run: \(before)")

        // The same run with the process past its memory limit: the memory dimension is in
        // emergency, the level climbs to YELLOW and the germination is held.
        server.application.tamiyo.memory.setLimit(1 << 20)
        let pressed = try server.submit(AcceptanceRun.helpful)
        #expect(try server.waitFor(pressed, status: "succeeded", within: 300))
        let after = try RiskMetricsTests.risk(server, run: pressed)
        #expect(after.memoryRisk == 1 && after.memoryUtilisation > 1, "\(after)")
        #expect(after.level >= 1 && after.score >= 0.25, "the level moved with the risk: \(after)")
        #expect(after.level > before.level && after.memoryRisk > before.memoryRisk)
        #expect(try server.seeds(pressed).isEmpty, "the germination was held by the memory pre-check")
        // The earlier run's series keep their own values.
        #expect(try RiskMetricsTests.risk(server, run: calm).memoryRisk == 0)

        // The policy endpoint shows the same dimension for the run.
        let policy = try server.object("GET", "/api/v1/tamiyo/policy")
        let runs = try #require((policy["risk"] as? [String: Any])?["runs"] as? [[String: Any]])
        let shown = try #require(runs.first { $0["run_id"] as? String == pressed }?["assessment"] as? [String: Any])
        let dimensions = try #require(shown["dimensions"] as? [[String: Any]])
        let memory = try #require(dimensions.first { $0["name"] as? String == "memory_utilisation" })
        #expect(memory["risk"] as? Double == 1 && memory["weight"] as? Double == 0.25)
        server.application.tamiyo.memory.setLimit(nil)
    }
}
