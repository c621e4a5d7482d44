/// One problem with one request parameter.
public import Leyline

public struct ParameterProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        case missing = "parameter_missing"
        case outOfBounds = "parameter_out_of_bounds"
        case notFinite = "parameter_not_finite"
        case unknown = "parameter_unknown"
    }

    public let parameter: String
    public let reason: Reason
    public let message: String

    public var description: String { "\(parameter): \(message)" }
}

/// Errors of the catalog, naming what was wrong.
public enum KarnError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    case invalidParameters(blueprintId: String, [ParameterProblem])
    case noCandidates(String)
    /// The template needs an explicit approval for this use.
    case approvalRequired(blueprintId: String, tier: BlueprintTier)
    /// The built-in table breaks a catalog rule (a bug in `DefaultCatalog`).
    case invalidCatalog(String)

    public var description: String {
        switch self {
        case .notFound(let id): "blueprint \(id) is not in the catalog"
        case .invalidParameters(let id, let problems):
            "invalid parameters for \(id): " + problems.map(\.description).joined(separator: "; ")
        case .noCandidates(let why): "no blueprints available for the requested criteria (\(why))"
        case .approvalRequired(let id, let tier):
            "\(id) is \(tier.enumName) and needs an explicit approval (\"approved\": true)"
        case .invalidCatalog(let why): "invalid blueprint catalog: \(why)"
        }
    }
}
