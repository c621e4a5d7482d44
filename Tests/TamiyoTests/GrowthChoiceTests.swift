import EsperTestSupport
import Foundation
import Leyline
import TamiyoNetwork
import Testing

@testable import Kasmina
@testable import Tamiyo
@testable import Tolaria

/// Issue 17 item 6: the heuristic chooses the growth family from what the run measured —
/// trial grafts per family, the paying one preferred, the culled one deprioritised — never
/// from the data set's name.
@Suite(.serialized) struct GrowthChoiceTests {
    static func info(_ id: String, family: String) -> BlueprintInfo {
        BlueprintInfo(
            blueprintId: id, name: id, tier: .safe, risk: 0.1, stage: 1, quarantineOnly: false, approvalRequired: false,
            description: id, available: true, seedWidth: 8, kind: family == "widening" ? "widen" : "skip", residual: true,
            family: family)
    }

    /// A plateaued boundary with one open slot whose candidates are `candidates` (in
    /// preference order) and the run's family ledger `families`.
    static func observation(
        _ candidates: [BlueprintInfo], families: [String: FamilyRecord], failures: [String: Int] = [:]
    ) -> PolicyObservation {
        let summary = EpochSummary(
            runId: "r", experimentName: "e", epoch: 10, epochs: 40, globalStep: 100, trainLoss: 0.5, trainAccuracy: 0.8,
            trainSamples: 100, gradientNorm: 1, validationLoss: 0.6, validationAccuracy: 0.8, validationSamples: 50, epochMs: 1,
            validationMs: 1, boundaryMs: 0, controllerMs: 0, samplesPerSecond: 1, learningRates: [:], slots: [], timestampNs: 0)
        let slot = SlotStatus(
            name: "slot-0", layer: 0, width: 8, allowed: true, embargoUntilEpoch: 0, liveSeed: nil, fossils: 0, fossilParameters: 0)
        var settings = SeedSettings()
        settings.plateauEpochs = 2
        settings.warmupEpochs = 0
        settings.maxGerminations = 100
        var o = PolicyObservation(
            summary: summary, lossDelta: 0, bestValidationLoss: 0.6, epochsSinceImprovement: 5,
            kasmina: BoundaryReport(epoch: 10, seeds: [], slots: [slot], finished: [], seedParameters: 0, germinations: 2),
            settings: settings, conservative: false, candidates: ["slot-0": candidates], failures: failures, hostParameters: 500,
            learningRate: 1e-3)
        o.families = families
        return o
    }

    /// A ledger of `trials` on a 500-parameter network; each kept seed's ablation gain (what it
    /// is worth itself) is its `gain`.
    static func ledger(_ trials: [(family: String, fossilized: Bool, gain: Double, parameters: Int)]) -> [String: FamilyRecord] {
        var ledger = GrowthLedger()
        for t in trials {
            ledger.record(
                family: t.family, fossilized: t.fossilized, gain: t.gain, ablationGain: t.gain, parameters: t.parameters,
                networkParameters: 500,
                cullReason: t.fossilized ? nil : "no_improvement")
        }
        return ledger.families
    }

    static func germinated(_ decision: PolicyDecision) -> String? {
        guard case .germinate(_, let blueprint) = decision.proposal else { return nil }
        return blueprint
    }

    let candidates = [
        GrowthChoiceTests.info("BP008", family: "slot"), GrowthChoiceTests.info("widen-8", family: "widening"),
        GrowthChoiceTests.info("widen-4", family: "widening"), GrowthChoiceTests.info("BPX01", family: "depth"),
    ]

    @Test func untriedFamiliesGetATrialInPreferenceOrder() {
        let policy = HeuristicPolicy()
        #expect(GrowthChoiceTests.germinated(policy.decide(GrowthChoiceTests.observation(candidates, families: [:]))) == "BP008")
        let slotTried = GrowthChoiceTests.ledger([("slot", false, 0, 100)])
        #expect(GrowthChoiceTests.germinated(policy.decide(GrowthChoiceTests.observation(candidates, families: slotTried))) == "widen-8")
        let both = GrowthChoiceTests.ledger([("slot", false, 0, 100), ("widening", false, 0, 600)])
        let decision = policy.decide(GrowthChoiceTests.observation(candidates, families: both))
        #expect(GrowthChoiceTests.germinated(decision) == "BPX01", "any family the catalog names gets its trial: \(decision.rationale)")
        #expect(decision.rationale.contains("slot: 1 trial, 1 culled (no_improvement)"))
    }

    @Test func theFamilyWhoseTrialsPaidIsPreferredAndTheCulledOneDropped() {
        let policy = HeuristicPolicy()
        // Slot kernels culled twice, widening kept once, depth culled once: widening.
        let ledger = GrowthChoiceTests.ledger([
            ("slot", false, 0, 100), ("widening", true, 0.06, 600), ("depth", false, 0, 80), ("slot", false, 0, 100),
        ])
        let decision = policy.decide(GrowthChoiceTests.observation(candidates, families: ledger))
        #expect(GrowthChoiceTests.germinated(decision) == "widen-8", "\(decision.rationale)")
        #expect(decision.rationale.contains("family widening"))
        // Within the family, the blueprint that failed least, then the preference order.
        let failed = policy.decide(GrowthChoiceTests.observation(candidates, families: ledger, failures: ["widen-8": 1]))
        #expect(GrowthChoiceTests.germinated(failed) == "widen-4")
        // Two paying families: the larger worth per doubling of the network wins.
        let twoPaying = GrowthChoiceTests.ledger([
            ("slot", false, 0, 100), ("widening", true, 0.06, 600), ("depth", true, 0.05, 100),
        ])
        #expect(GrowthChoiceTests.germinated(policy.decide(GrowthChoiceTests.observation(candidates, families: twoPaying))) == "BPX01")
        // A family that paid once and then keeps being culled stops being preferred.
        let streak = GrowthChoiceTests.ledger([
            ("slot", false, 0, 100), ("depth", false, 0, 100), ("widening", true, 0.06, 600), ("widening", false, 0, 600),
            ("widening", false, 0, 600), ("slot", true, 0.001, 100),
        ])
        #expect(GrowthChoiceTests.germinated(policy.decide(GrowthChoiceTests.observation(candidates, families: streak))) == "BP008")
    }

    /// The learned policy's blueprint head sees what the run measured of each candidate's family.
    @Test func theLearnedPolicysCandidatesCarryTheirFamilysOutcomes() {
        let ledger = GrowthChoiceTests.ledger([("slot", false, 0, 100), ("slot", false, 0, 100), ("widening", true, 0.06, 600)])
        let (input, candidates) = LearnedPolicy.input(
            GrowthChoiceTests.observation(candidates, families: ledger), config: PolicyNetworkConfig())
        #expect(candidates.map(\.info.blueprintId) == ["BP008", "widen-8", "widen-4", "BPX01"])
        let family = input.blueprints.map { Array($0.features[6...]) }
        #expect(family[0] == [0, 0, 1, 0], "slot: tried, none kept, culled twice")
        #expect(family[1] == family[2] && family[1][0] == 0 && family[1][1] == 1 && family[1][2] == 0 && family[1][3] > 0.5)
        #expect(family[3] == [1, 0, 0, 0], "depth: untried")
    }

    @Test func theLedgerRanksAndDescribesFamilies() {
        let records = GrowthChoiceTests.ledger([
            ("a", false, 0, 10), ("b", true, 0.02, 1000), ("c", true, 0.02, 100), ("a", false, 0, 10),
        ])
        #expect(GrowthLedger.rank(["a", "b", "c", "d"], by: records) == ["d", "c", "b", "a"])
        #expect(abs((records["c"]?.meanGainPerKiloparameter ?? 0) - 0.2) < 1e-12)
        #expect(records["a"]?.pays == false && records["a"]?.cullsSinceFossil == 2 && records["a"]?.lastCullReason == "no_improvement")
        #expect(abs((records["c"]?.meanAblationGainPerDoubling ?? 0) - 0.02 / log2(1.2)) < 1e-12)
        #expect(GrowthLedger.describe("b", records["b"]) == "b: 1 trial, 1 kept (worth +0.01262/doubling, +0.02/kparam)")
        #expect(GrowthLedger.describe("d", nil) == "d: untried")
    }

    /// The ranking weighs what a kept seed is itself worth (its ablation gain) per doubling of
    /// the network, not the loss gain per parameter: a small graft kept while the host was
    /// still improving on its own (a large loss gain, little worth of its own) ranks below a
    /// larger one the network leans on; and what a graft must be worth grows with how much of
    /// the network it adds, not with its parameter count alone.
    @Test func theLedgerRanksByWhatTheSeedItselfIsWorth() {
        var ledger = GrowthLedger()
        ledger.record(
            family: "widening", fossilized: true, gain: 0.4, ablationGain: 0.03, parameters: 408, networkParameters: 418, cullReason: nil)
        ledger.record(
            family: "structure", fossilized: true, gain: 0.3, ablationGain: 0.28, parameters: 2464, networkParameters: 826,
            cullReason: nil)
        let records = ledger.families
        #expect((records["widening"]?.meanGainPerKiloparameter ?? 0) > (records["structure"]?.meanGainPerKiloparameter ?? 0))
        #expect(GrowthLedger.rank(["widening", "structure"], by: records) == ["structure", "widening"])
        // Doubling the network counts one doubling whatever its size; a tenth as much growth
        // counts about a seventh of one (log2 1.1), not a tenth: small grafts get no bonus.
        #expect(FamilyRecord.ablationGainPerDoubling(ablationGain: 0.1, parameters: 500, networkParameters: 500) == 0.1)
        let tenth = FamilyRecord.ablationGainPerDoubling(ablationGain: 0.01, parameters: 50, networkParameters: 500)
        #expect(tenth < 0.1 && tenth > 0.07)
        // A seed whose worth was never measured counts as worth nothing.
        ledger.record(family: "depth", fossilized: true, gain: 0.5, parameters: 100, cullReason: nil)
        #expect(ledger.families["depth"]?.meanAblationGainPerDoubling == 0)
    }

    /// A real run (digits, a 4-unit host, one slot): the slot kernel BP008 is tried first (the
    /// preference order) and culled — by a wrapper that culls every `slot`-family seed as soon
    /// as it trains, standing in for a kind of growth that never pays — then widening gets its
    /// trial, pays, and every later germination is widening: BP002, the next slot kernel in the
    /// preference order, never failed itself but its family did (the per-blueprint rule alone
    /// would have tried it next). The field reports carry the family, the measured gains, the
    /// cull reason and the FLOPs the graft's lifetime cost.
    @Test func aRunSwitchesFromTheCulledFamilyToThePayingOne() throws {
        let fixture = try ControlFixture(width: 4, blueprints: ["BP008", "BP002"])
        var config = RunConfig(dataset: DatasetSpec(kind: .digits), epochs: 30, learningRate: 0.01)
        config.model.hiddenSizes = [4]
        config.seed = 5
        config.policy = .heuristic
        var seeds = ControlFixture.quickGrowth(["BP008", "BP002", "widen-4"])
        seeds.maxGerminations = 4
        config.seeds = seeds
        let id = "run-\(UUID().uuidString.lowercased())"
        let run = try fixture.run(config, id: id, policy: CullingFamily("slot", catalog: fixture.service.catalog))
        #expect(run.outcome == .completed)
        let germinations = run.controller.commands.compactMap { command -> String? in
            guard case .seedOperation(let op)? = command.payload, op.operation == .germinate, command.annotations["executed"] == "true"
            else { return nil }
            return op.blueprintId
        }
        #expect(germinations.first == "BP008", "\(germinations)")
        #expect(germinations.dropFirst().allSatisfy { $0 == "widen-4" } && germinations.count >= 3, "\(germinations)")
        #expect(run.controller.ledger.families["slot"]?.culled == 1)
        #expect(run.controller.ledger.families["widening"]?.pays == true)

        #expect(fixture.service.flush())
        let reports = fixture.service.fieldReports.all.filter { $0.trainingRunId == id }
        let culled = try #require(reports.first { $0.blueprintId == "BP008" })
        #expect(culled.family == "slot" && culled.cullReason == "never_pays" && culled.metrics["gain_per_kiloparameter"] == nil)
        let kept = reports.filter { $0.blueprintId == "widen-4" && $0.outcome == .success }
        #expect(!kept.isEmpty)
        for report in kept {
            #expect(report.family == "widening" && report.cullReason.isEmpty)
            #expect((report.metrics["gain_per_kiloparameter"] ?? 0) > 0)
            // Beside it, what the ranking weighs: the seed's own worth per doubling of the network.
            let worth = try #require(report.metrics["ablation_loss_delta"])
            let network = try #require(report.metrics["network_parameters_before"])
            let perDoubling = try #require(report.metrics["ablation_gain_per_doubling"])
            let doublings = log2(1 + Double(report.metrics["seed_parameters"] ?? 0) / Double(network))
            #expect(abs(Double(perDoubling) - Double(worth) / doublings) < 1e-4 * max(1, abs(Double(perDoubling))))
            let lifetime = try #require(report.metrics["lifetime_training_flops"])
            #expect(lifetime > 0 && lifetime < (report.metrics["run_training_flops"] ?? 0))
            // In the JSON an operator reads (REST and the log): the family, no cull reason.
            let json = String(decoding: try LeylineCodec.encodeWithJansson(report), as: UTF8.self)
            #expect(json.contains(#""family":"widening""#) && !json.contains("cull_reason"))
        }
        // The germination's step records what the slot and blueprint heads chose among (Simic's data).
        let germinate = try #require(culled.trajectory.last { $0.action == UInt32(PolicyAction.germinate.rawValue) })
        #expect(germinate.chosenSlot == 1 && germinate.chosenCandidate == 1 && germinate.openSlots == 1)
        #expect(germinate.candidateIndices.count == 3 && germinate.candidateSlots == [0, 0, 0])
        #expect(germinate.candidateFeatures.count == 3 * PolicyNetworkConfig().blueprintFeatureDim)
        #expect(germinate.slotFeatures.count == PolicyNetworkConfig().slotFeatureDim)
        let culledJSON = String(decoding: try LeylineCodec.encodeWithJansson(culled), as: UTF8.self)
        #expect(culledJSON.contains(#""cull_reason":"never_pays""#) && culledJSON.contains(#""family":"slot""#))
        #expect(try LeylineCodec.decode(FieldReport.self, from: LeylineCodec.encodeWithJansson(culled)) == culled)
    }
}

/// The heuristic, except that a seed of `family` is culled as soon as it trains (reason
/// `never_pays`): a growth family whose trials never pay, made deterministic.
final class CullingFamily: TamiyoPolicy {
    let name = "heuristic"
    let version = "heuristic-culling"
    let family: String
    let catalog: BlueprintCatalog
    let heuristic = HeuristicPolicy()

    init(_ family: String, catalog: BlueprintCatalog) {
        self.family = family
        self.catalog = catalog
    }

    func decide(_ o: PolicyObservation) -> PolicyDecision {
        if let seed = o.kasmina.seeds.first, catalog.info(seed.origin.requestedId)?.family == family {
            return PolicyDecision(.cull(seedId: seed.seedId, reason: "never_pays"), action: .cull, rationale: "\(family) never pays")
        }
        return heuristic.decide(o)
    }
}
