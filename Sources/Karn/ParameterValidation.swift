/// A request that passed validation: the parameters exactly as given, and the values a kernel
/// uses (integers rounded, 05 §4).
public struct ValidatedRequest: Sendable, Equatable {
    public let template: BlueprintTemplate
    /// As requested (0.1 stays 0.1).
    public let requested: [String: Double]
    /// Per declared parameter: the typed value the compiler uses.
    public let effective: [String: Double]
    /// Keys the template does not declare (only in `.reference` mode; strict mode rejects them).
    public let ignoredKeys: [String]

    public var descriptor: BlueprintDescriptor { template.descriptor }
}

/// How strictly `validateRequest` treats keys a template does not declare.
public enum ParameterStrictness: Sendable {
    /// Unknown keys are errors (a typo such as `dropuot` is reported, not ignored).
    case strict
    /// The reference semantics (05 §5): extra keys are accepted and reported as ignored, and a
    /// template without parameters accepts any map.
    case reference
}

extension BlueprintTemplate {
    /// 05 §5: every declared parameter present, finite and inside its inclusive bounds; all
    /// problems reported at once, each naming the parameter and its bounds.
    public func validate(
        _ parameters: [String: Double], strictness: ParameterStrictness = .strict
    )
        throws(KarnError) -> ValidatedRequest
    {
        var problems: [ParameterProblem] = []
        var effective: [String: Double] = [:]
        for parameter in self.parameters {
            let name = parameter.name
            let range = "[\(format(parameter.bounds.minValue)), \(format(parameter.bounds.maxValue))]"
            guard let value = parameters[name] else {
                problems.append(
                    ParameterProblem(
                        parameter: name, reason: .missing,
                        message: "missing required parameter (\(parameter.type.rawValue) in \(range))"))
                continue
            }
            guard value.isFinite else {
                problems.append(ParameterProblem(parameter: name, reason: .notFinite, message: "\(value) is not a finite number"))
                continue
            }
            guard parameter.bounds.contains(value) else {
                problems.append(
                    ParameterProblem(
                        parameter: name, reason: .outOfBounds,
                        message: "\(format(value)) is outside \(range)"))
                continue
            }
            effective[name] = parameter.effectiveValue(value)
        }
        let unknown = parameters.keys.filter { self.parameter($0) == nil }.sorted()
        if strictness == .strict {
            let declared = self.parameters.map(\.name).sorted()
            for key in unknown {
                let hint = declared.isEmpty ? "this template takes no parameters" : "expected one of \(declared.joined(separator: ", "))"
                problems.append(ParameterProblem(parameter: key, reason: .unknown, message: "unknown parameter (\(hint))"))
            }
        }
        guard problems.isEmpty else { throw KarnError.invalidParameters(blueprintId: id, problems) }
        return ValidatedRequest(
            template: self, requested: parameters, effective: effective,
            ignoredKeys: strictness == .strict ? [] : unknown)
    }
}

/// Shortest decimal form of a double, for messages ("0.001", "2", "1e-06").
func format(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
}
