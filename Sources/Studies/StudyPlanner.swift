// Turns a study request into the runs it creates: merged configs, labels, and where a bad field came from.
public import EsperJSON
import Foundation
public import Tolaria

/// What a group of a study is: an arm, one of an arm's controls, or a fixed config.
public enum StudyGroupKind: String, Sendable, Codable, CaseIterable {
    case arm
    case noGrowth = "no_growth"
    case staticFinal = "static_final"
    case fixedSchedule = "fixed_schedule"
    case fixed
}

/// One run a study creates (or will create: a static_final run waits for its grown run).
public struct PlannedRun: Sendable, Equatable {
    /// `arm`, `arm/no_growth`, `arm/static_final` or the fixed config's name.
    public var group: String
    public var kind: StudyGroupKind
    /// The arm a control belongs to (the arm itself for arms; nil for fixed configs).
    public var arm: String?
    public var seed: UInt64
    /// The run config (nil for static_final: known when the grown run ends).
    public var config: JSONValue?
}

public enum StudyPlanner {
    public static func groupName(kind: StudyGroupKind, variant: String) -> String {
        switch kind {
        case .arm, .fixed: variant
        case .noGrowth, .staticFinal, .fixedSchedule: "\(variant)/\(kind.rawValue)"
        }
    }

    /// The run's label in `/api/v1/runs` (`name`): its group and seed.
    public static func runName(group: String, seed: UInt64) -> String { "\(group)/seed-\(seed)" }

    /// Every run of the study, seed-major (so the first seed of every group starts first).
    public static func plan(_ request: StudyRequest, studyId: String) -> [PlannedRun] {
        var runs: [PlannedRun] = []
        for seed in request.seeds {
            for arm in request.arms {
                let merged = MergePatch.apply(arm.overrides, to: request.base)
                runs.append(
                    PlannedRun(
                        group: arm.name, kind: .arm, arm: arm.name, seed: seed,
                        config: label(merged, group: arm.name, seed: seed, studyId: studyId)))
                for control in request.controls {
                    let kind = StudyPlanner.kind(of: control)
                    let group = groupName(kind: kind, variant: arm.name)
                    // Not a ternary: JSONValue is ExpressibleByNilLiteral, so `: nil` would be `.null`.
                    var config: JSONValue? = nil
                    if kind == .noGrowth { config = label(withoutGrowth(merged), group: group, seed: seed, studyId: studyId) }
                    runs.append(PlannedRun(group: group, kind: kind, arm: arm.name, seed: seed, config: config))
                }
            }
            for fixed in request.fixed {
                let merged = MergePatch.apply(fixed.overrides, to: request.base)
                runs.append(
                    PlannedRun(
                        group: fixed.name, kind: .fixed, arm: nil, seed: seed,
                        config: label(merged, group: fixed.name, seed: seed, studyId: studyId)))
            }
        }
        return runs
    }

    /// The group kind of a control's runs.
    static func kind(of control: StudyControl) -> StudyGroupKind {
        switch control {
        case .noGrowth: .noGrowth
        case .staticFinal: .staticFinal
        case .fixedSchedule: .fixedSchedule
        }
    }

    /// The study owns a run's seed and labels: `seed`, `name` = group/seed-n,
    /// `experiment_name` = the study id.
    static func label(_ config: JSONValue, group: String, seed: UInt64, studyId: String) -> JSONValue {
        guard case .object(var members) = config else { return config }
        members["seed"] = .int(Int64(bitPattern: seed))
        members["name"] = .string(runName(group: group, seed: seed))
        members["experiment_name"] = .string(studyId)
        return .object(members)
    }

    /// Whether the config names a controller (a policy other than `none`).
    static func grows(_ config: JSONValue) -> Bool {
        guard case .object(let members) = config, case .string(let policy)? = members["policy"] else { return false }
        return policy != ControlPolicy.none.rawValue
    }

    /// The same run without growth: no controller (`policy`), no seed settings.
    public static func withoutGrowth(_ config: JSONValue) -> JSONValue {
        MergePatch.apply(.object(["policy": .null, "seeds": .null]), to: config)
    }

    /// The static_final config: the grown run's config without growth, with its final widths
    /// and conv branches (`model.branches`, fossilised structural seeds declared from the start).
    public static func staticFinal(
        from grown: JSONValue, hiddenSizes: [Int], branches: [BranchSpec] = [], group: String, seed: UInt64, studyId: String
    ) -> JSONValue {
        var model: [String: JSONValue] = ["hidden_sizes": .array(hiddenSizes.map { .int(Int64($0)) })]
        if !branches.isEmpty {
            model["branches"] = .array(branches.map { .object(["blueprint": .string($0.blueprint), "slot": .string($0.slot)]) })
        }
        let patch: JSONValue = .object(["model": .object(model)])
        return label(MergePatch.apply(patch, to: withoutGrowth(grown)), group: group, seed: seed, studyId: studyId)
    }

    /// The fixed_schedule config: the grown run's config and seed settings with the `scheduled`
    /// policy repeating its germinations; a grown run that germinated nothing is repeated
    /// without growth (zero germinations, no controller).
    public static func fixedSchedule(
        from grown: JSONValue, germinations: [ScheduledGermination], group: String, seed: UInt64, studyId: String
    ) -> JSONValue {
        guard !germinations.isEmpty else { return label(withoutGrowth(grown), group: group, seed: seed, studyId: studyId) }
        let schedule: JSONValue = .array(
            germinations.map {
                .object(["epoch": .int(Int64($0.epoch)), "slot": .string($0.slot), "blueprint": .string($0.blueprint)])
            })
        let patch: JSONValue = .object(["policy": .string(ControlPolicy.scheduled.rawValue), "seeds": .object(["schedule": schedule])])
        return label(MergePatch.apply(patch, to: grown), group: group, seed: seed, studyId: studyId)
    }

    /// Names a problem of a merged config by where its field came from: the variant's
    /// overrides (`arms[1].overrides.model.hidden_sizes`) or the base (`base.epochs`).
    public static func locate(_ problem: JSONFieldProblem, overrides: JSONValue, variantField: String) -> JSONFieldProblem {
        let path = problem.field.split(separator: ".").map { component in
            String(component.prefix { $0 != "[" })
        }
        let prefix = MergePatch.touches(overrides, path: path) ? "\(variantField).overrides" : "base"
        return JSONFieldProblem(field: problem.field.isEmpty ? prefix : "\(prefix).\(problem.field)", message: problem.message)
    }
}
