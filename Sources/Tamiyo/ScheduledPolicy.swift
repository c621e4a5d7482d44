// The scheduled policy: germinations at fixed epochs, fixed stage durations — growth without a controller's judgement.
import Kasmina
import Leyline
import TamiyoNetwork
import Tolaria

/// Grows on a timetable instead of on evidence (a study's `fixed_schedule` control asks for
/// it, repeating a grown run's germinations): `seeds.schedule` says at which epoch boundary
/// which blueprint germinates in which slot, and every seed walks through its stages on fixed
/// durations — TRAINING for `min_training_epochs`, GRAFTING until the α ramp completes,
/// STABILIZING for `stabilization_epochs`, EVALUATING for `evaluation_epochs`, then
/// FOSSILIZED. Nothing is culled by judgement (the risk engine and Kasmina's own checks still
/// apply). One decision per boundary: a germination that is due comes first; one due while
/// its slot is busy or the live-seed budget is used waits for the next boundary. The
/// schedule's next entry is the one after the run's germinations so far, so a resumed run
/// continues where it was.
public final class ScheduledPolicy: TamiyoPolicy {
    public let name = "scheduled"
    public let version = "scheduled-1"

    public init() {}

    public func decide(_ o: PolicyObservation) -> PolicyDecision {
        let s = o.settings
        let schedule = s.schedule ?? []
        if o.kasmina.germinations < schedule.count, o.kasmina.seeds.count < s.maxActiveSeeds {
            let next = schedule[o.kasmina.germinations]
            if next.epoch <= o.epoch,
                o.kasmina.slots.contains(where: { $0.name == next.slot && $0.isOpen(at: o.epoch + 1) }),
                o.candidates[next.slot]?.contains(where: { $0.blueprintId == next.blueprint }) ?? false
            {
                return PolicyDecision(
                    .germinate(slot: next.slot, blueprint: next.blueprint), action: .germinate,
                    rationale: "scheduled for epoch \(next.epoch): \(next.blueprint) in \(next.slot)")
            }
        }
        for seed in o.kasmina.seeds where !seed.paused {
            if let stage = ScheduledPolicy.due(seed, s) {
                return PolicyDecision(
                    .transition(seedId: seed.seedId, to: stage), action: .advance,
                    rationale: "\(seed.seedId): \(seed.epochsInStage) epochs in \(seed.stage.name), as scheduled")
            }
        }
        return PolicyDecision(.wait, action: .wait, rationale: "nothing scheduled now")
    }

    /// The stage a seed moves to now on the fixed durations, nil while it stays.
    static func due(_ seed: SeedSnapshot, _ s: SeedSettings) -> SeedLifecycleStage? {
        let epochs: Int
        switch seed.stage {
        case .training: epochs = s.minTrainingEpochs
        case .grafting: epochs = 0  // `nextStage` waits for the α ramp
        case .stabilizing: epochs = s.stabilizationEpochs
        case .evaluating, .fineTuning: epochs = s.evaluationEpochs
        default: return nil
        }
        return seed.epochsInStage >= epochs ? nextStage(of: seed) : nil
    }
}
