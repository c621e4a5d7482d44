import Foundation

/// What a run has measured of one growth family (Karn's `family` of a blueprint: `widening`,
/// `slot`, `structure`, …): its trial grafts and how each ended. The heuristic ranks families
/// by it and the learned policy sees it as candidate features — measured in this run, never
/// keyed on the data set or the task's name.
public struct FamilyRecord: Sendable, Equatable, Codable {
    /// Grafts of the family whose lifecycle ended (fossilised or culled).
    public var trials = 0
    public var fossilized = 0
    public var culled = 0
    /// Culls since the family's last fossil: a family that paid once and then keeps being
    /// culled stops counting as paying.
    public var cullsSinceFossil = 0
    /// Σ over the fossilised trials of the validation-loss gain (before − after the graft)
    /// per 1 000 parameters the seed added. Reported, not ranked on: the gain includes the
    /// host's own progress while the seed lived, and dividing by parameters rewards tiny grafts.
    public var gainPerKiloparameterSum = 0.0
    /// Σ over the fossilised trials of the seed's own worth per doubling of the network
    /// (`ablationGainPerDoubling`): what the family ranking weighs.
    public var ablationGainPerDoublingSum = 0.0
    /// Why the family's last culled trial was culled (`no_improvement`, `regression`, …).
    public var lastCullReason: String?

    public init() {}

    /// Mean validation-loss gain per 1 000 added parameters over the fossilised trials (0 without one).
    public var meanGainPerKiloparameter: Double { fossilized > 0 ? gainPerKiloparameterSum / Double(fossilized) : 0 }

    /// Mean of the seeds' own worth per doubling of the network over the fossilised trials (0 without one).
    public var meanAblationGainPerDoubling: Double { fossilized > 0 ? ablationGainPerDoublingSum / Double(fossilized) : 0 }

    /// The family's trials paid: at least one fossilised, and not culled twice in a row since.
    public var pays: Bool { fossilized > 0 && cullsSinceFossil < GrowthLedger.cullStreakLimit }

    /// The validation-loss gain per 1 000 parameters of one graft (`gain` = loss before − after);
    /// a parameter-free graft counts its gain per one parameter.
    public static func gainPerKiloparameter(gain: Double, parameters: Int) -> Double {
        gain.isFinite ? gain / (Double(max(1, parameters)) / 1000) : 0
    }

    /// What one graft itself paid, on a scale that does not reward tiny grafts: its ablation
    /// gain (validation loss with the seed bypassed − with it, measured after the host trained
    /// with it, so the host's own progress while the seed lived cancels out) per doubling of
    /// the network, log2(1 + `parameters` / `networkParameters`, the host and its seeds before
    /// the graft). A network's loss falls roughly by a constant per doubling of its size, so
    /// this asks whether the graft paid more than growing the network by as much would pay:
    /// eight units on a large host must be worth little to score, a branch that quadruples a
    /// small one must be worth about twice a doubling. Without a measured network size the
    /// graft counts as one doubling.
    public static func ablationGainPerDoubling(ablationGain: Double, parameters: Int, networkParameters: Int?) -> Double {
        guard ablationGain.isFinite else { return 0 }
        let doublings = networkParameters.map { log2(1 + Double(max(1, parameters)) / Double(max(1, $0))) } ?? 1
        return ablationGain / doublings
    }
}

/// The run's trial outcomes per growth family, in the order they ended.
public struct GrowthLedger: Sendable, Equatable {
    /// Consecutive culls after which a family that paid before is deprioritised again.
    public static let cullStreakLimit = 2

    public private(set) var families: [String: FamilyRecord] = [:]

    public init() {}

    /// Records a graft of `family` that ended: fossilised with a validation-loss `gain`
    /// (before − after) and an `ablationGain` (bypassed − with it; nil when never measured,
    /// counted as 0) for `parameters` added to a network of `networkParameters`, or culled for
    /// `cullReason`.
    public mutating func record(
        family: String, fossilized: Bool, gain: Double, ablationGain: Double? = nil, parameters: Int, networkParameters: Int? = nil,
        cullReason: String?
    ) {
        var record = families[family] ?? FamilyRecord()
        record.trials += 1
        if fossilized {
            record.fossilized += 1
            record.cullsSinceFossil = 0
            record.gainPerKiloparameterSum += FamilyRecord.gainPerKiloparameter(gain: gain, parameters: parameters)
            record.ablationGainPerDoublingSum += FamilyRecord.ablationGainPerDoubling(
                ablationGain: ablationGain ?? 0, parameters: parameters, networkParameters: networkParameters)
        } else {
            record.culled += 1
            record.cullsSinceFossil += 1
            record.lastCullReason = cullReason ?? "policy"
        }
        families[family] = record
    }

    /// The order in which a policy should try families, best first: families not yet tried
    /// (each gets a trial graft), then the paying ones by the mean worth of their seeds per
    /// doubling of the network (`meanAblationGainPerDoubling`), then
    /// those whose trials were culled (shortest cull streak first). Ties keep `families`' order
    /// (the run's blueprint preference order).
    public static func rank(_ families: [String], by records: [String: FamilyRecord]) -> [String] {
        func key(_ family: String) -> (Int, Double) {
            guard let record = records[family], record.trials > 0 else { return (0, 0) }
            if record.pays { return (1, -record.meanAblationGainPerDoubling) }
            return (2, Double(record.cullsSinceFossil))
        }
        return families.enumerated().sorted { a, b in
            let ka = key(a.element), kb = key(b.element)
            return ka != kb ? ka < kb : a.offset < b.offset
        }.map(\.element)
    }

    /// One line per family for rationales and reports:
    /// `widening: 2 trials, 1 kept (worth +0.081/doubling, +0.041/kparam), 1 culled (no_improvement)`.
    public static func describe(_ family: String, _ record: FamilyRecord?) -> String {
        guard let record, record.trials > 0 else { return "\(family): untried" }
        var text = "\(family): \(record.trials) trial\(record.trials == 1 ? "" : "s")"
        if record.fossilized > 0 {
            let worth = String(format: "%+.4g", record.meanAblationGainPerDoubling)
            text +=
                ", \(record.fossilized) kept (worth \(worth)/doubling, \(String(format: "%+.4g", record.meanGainPerKiloparameter))/kparam)"
        }
        if record.culled > 0 { text += ", \(record.culled) culled (\(record.lastCullReason ?? "policy"))" }
        return text
    }
}
