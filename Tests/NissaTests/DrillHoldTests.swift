import EsperTestSupport
import Foundation
import Leyline
import Nissa
import Testing

/// Drills hold their alert firing long enough for Alertmanager to list it (label
/// drill="true"), refuse a second drill of the same rule meanwhile, then resolve; the
/// resolved notification says what resolved it.
@Suite struct DrillHoldTests {
    @Test func aDrillHoldsItsAlertFiringThenResolves() throws {
        let (nissa, _) = makeNissa { $0.drillHoldSeconds = 60 }
        #expect(nissa.options.drillHoldSeconds == 60)
        guard case .ran(let started) = nissa.startDrill("oona_queue_depth", hold: 1.5) else {
            Issue.record("the drill did not start")
            return
        }
        #expect(started.triggered && !started.cleared && started.state == .holding && started.holdS == 1.5)
        #expect(started.resolvesAt != nil)
        // Held: firing, a drill, and a second drill of the same rule is refused.
        let firing = nissa.alerts.firing().filter { $0.rule == "oona_queue_depth" }
        #expect(firing.count == 1 && firing[0].drill)
        let rule = try #require(nissa.alerts.rules.rule(named: "oona_queue_depth"))
        #expect(AlertmanagerPayload.labels(firing[0])["drill"] == "true")
        guard case .holding = nissa.startDrill("oona_queue_depth", hold: 0) else {
            Issue.record("a second drill of a holding rule was not refused")
            return
        }
        #expect(nissa.drillBook.latest["oona_queue_depth"]?.state == .holding)
        // Other rules drill meanwhile.
        #expect(nissa.runDrill("tezzeret_compile_retry_high")?.cleared == true)

        #expect(eventually(within: 30) { nissa.drillBook.latest["oona_queue_depth"]?.state == .cleared })
        #expect(nissa.alerts.firing().filter { $0.rule == "oona_queue_depth" }.isEmpty)
        let resolved = try #require(nissa.alerts.alert(id: started.alertId ?? ""))
        #expect(resolved.state == .resolved)
        let description = AlertmanagerPayload.annotations(resolved, rule: rule)["description"] ?? ""
        #expect(description.hasPrefix("resolved: oona.queue.depth from oona is back to 1000"), "\(description)")
        #expect(!description.contains("1000 > 4000"))
        #expect(AlertmanagerPayload.annotations(resolved, rule: rule)["summary"]?.hasPrefix("Resolved: ") == true)
    }

    @Test func withoutAHoldTheDrillFiresAndClearsAtOnce() {
        let (nissa, _) = makeNissa()
        guard case .ran(let result) = nissa.startDrill("kasmina_isolation_violation", hold: 0) else {
            Issue.record("the drill did not run")
            return
        }
        #expect(result.triggered && result.cleared && result.state == .cleared && result.resolvesAt == nil)
        guard case .noSuchRule = nissa.startDrill("nothing") else {
            Issue.record("an unknown rule was drilled")
            return
        }
    }
}
