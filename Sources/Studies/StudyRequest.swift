// The body of POST /api/v1/studies: base config, arms, seeds, controls, fixed configs — parsed and checked.
public import EsperJSON
import Foundation

/// A control a study can ask for, run beside each arm for each seed.
public enum StudyControl: String, Sendable, Codable, CaseIterable {
    /// The arm's config with the controller and seeds off: the host as it starts.
    case noGrowth = "no_growth"
    /// Each grown run's final architecture trained from scratch with the same recipe and
    /// seed, started when that run ends.
    case staticFinal = "static_final"
    /// Each grown run's germinations (same epochs, slots and blueprints) repeated without a
    /// controller — Tamiyo's `scheduled` policy, fixed stage durations — with the same recipe
    /// and seed, started when that run ends.
    case fixedSchedule = "fixed_schedule"
}

/// A named config change (RFC 7386 merge patch on the base).
public struct StudyVariant: Sendable, Codable, Equatable {
    public var name: String
    public var overrides: JSONValue
}

/// A study as submitted, after validation of its own fields (the run configs it produces are
/// checked by the run service: `StudyPlanner`).
public struct StudyRequest: Sendable, Codable, Equatable {
    public var name: String
    public var base: JSONValue
    public var arms: [StudyVariant]
    public var seeds: [UInt64]
    public var controls: [StudyControl]
    public var fixed: [StudyVariant]

    public enum Limits {
        public static let maxArms = 20
        public static let maxFixed = 20
        public static let maxSeeds = 100
        public static let maxNameLength = 64
    }

    /// Reads the body, reporting every bad field (not the run configs': see `StudyPlanner`).
    public static func parse(_ json: JSONValue) -> (request: StudyRequest?, problems: [JSONFieldProblem]) {
        var problems: [JSONFieldProblem] = []
        func problem(_ field: String, _ message: String) { problems.append(JSONFieldProblem(field: field, message: message)) }
        guard case .object(let body) = json else { return (nil, [JSONFieldProblem(field: "", message: "expected a JSON object")]) }
        for key in body.keys.sorted() where !["name", "base", "arms", "seeds", "controls", "fixed"].contains(key) {
            problem(key, "unknown field")
        }
        var name = ""
        switch body["name"] {
        case .string(let text) where !text.isEmpty && text.utf8.count <= 200: name = text
        case nil: problem("name", "required")
        default: problem("name", "expected a string of 1-200 characters")
        }
        let base = body["base"] ?? .null
        if case .object = base {} else { problem("base", body["base"] == nil ? "required (a run config)" : "expected a run config object") }

        func variants(_ key: String, required: Bool, max: Int) -> [StudyVariant] {
            guard let value = body[key] else {
                if required { problem(key, "required (at least one)") }
                return []
            }
            guard case .array(let items) = value, !(required && items.isEmpty), items.count <= max else {
                problem(key, "expected an array of \(required ? 1 : 0)-\(max) objects {\"name\", \"overrides\"}")
                return []
            }
            var result: [StudyVariant] = []
            for (index, item) in items.enumerated() {
                let field = "\(key)[\(index)]"
                guard case .object(let members) = item else {
                    problem(field, "expected an object {\"name\", \"overrides\"}")
                    continue
                }
                for extra in members.keys.sorted() where extra != "name" && extra != "overrides" {
                    problem("\(field).\(extra)", "unknown field")
                }
                let overrides = members["overrides"] ?? .object([:])
                if case .object = overrides {} else { problem("\(field).overrides", "expected an object (a JSON merge patch of the base)") }
                guard case .string(let variantName)? = members["name"], StudyRequest.isName(variantName) else {
                    problem("\(field).name", "required: 1-\(Limits.maxNameLength) characters of A-Z a-z 0-9 _ . -")
                    continue
                }
                result.append(StudyVariant(name: variantName, overrides: overrides))
            }
            return result
        }
        let arms = variants("arms", required: true, max: Limits.maxArms)
        let fixed = variants("fixed", required: false, max: Limits.maxFixed)
        var seen = Set<String>()
        for (key, list) in [("arms", arms), ("fixed", fixed)] {
            for (index, variant) in list.enumerated() where !seen.insert(variant.name).inserted {
                problem("\(key)[\(index)].name", "'\(variant.name)' is used twice (arm and fixed names must be distinct)")
            }
        }

        var seeds: [UInt64] = []
        switch body["seeds"] {
        case .array(let items)? where !items.isEmpty && items.count <= Limits.maxSeeds:
            for (index, item) in items.enumerated() {
                guard case .int(let value) = item, value >= 0 else {
                    problem("seeds[\(index)]", "expected a non-negative integer")
                    continue
                }
                if seeds.contains(UInt64(value)) {
                    problem("seeds[\(index)]", "seed \(value) is listed twice")
                } else {
                    seeds.append(UInt64(value))
                }
            }
        case nil: problem("seeds", "required: 1-\(Limits.maxSeeds) seeds")
        default: problem("seeds", "expected an array of 1-\(Limits.maxSeeds) non-negative integers")
        }

        var controls: [StudyControl] = []
        if let value = body["controls"] {
            if case .array(let items) = value {
                for (index, item) in items.enumerated() {
                    guard case .string(let text) = item, let control = StudyControl(rawValue: text) else {
                        problem("controls[\(index)]", "must be one of \(StudyControl.allCases.map(\.rawValue).joined(separator: ", "))")
                        continue
                    }
                    if controls.contains(control) {
                        problem("controls[\(index)]", "'\(text)' is listed twice")
                    } else {
                        controls.append(control)
                    }
                }
            } else {
                problem("controls", "expected an array of control names")
            }
        }
        guard problems.isEmpty else { return (nil, problems) }
        return (StudyRequest(name: name, base: base, arms: arms, seeds: seeds, controls: controls, fixed: fixed), [])
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= Limits.maxNameLength
            && text.unicodeScalars.allSatisfy {
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || "_.-".unicodeScalars.contains($0)
            }
    }

    /// Runs the study will create: per seed, each arm and its controls (one static_final and
    /// one fixed_schedule per arm run), and each fixed config.
    public var runCount: Int { seeds.count * (arms.count * (1 + controls.count) + fixed.count) }
}
