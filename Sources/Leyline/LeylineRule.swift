/// A check of one field beyond those its type brings (`LeylineFieldValue.check`): required
/// ids, ranges, known enum values, the version rule, or a rule of its own. It gets the
/// field's name from the table, so a problem always names the field it is about.
struct LeylineRule<Value>: @unchecked Sendable {
    let apply: (Value, String, inout LeylineValidator) -> Void
    /// The same check for a field table to run in place on a scalar field (`LeylineFieldSlot`),
    /// `.custom` when only `apply` can.
    let scalar: LeylineScalarRule

    init(scalar: LeylineScalarRule = .custom, apply: @escaping (Value, String, inout LeylineValidator) -> Void) {
        self.apply = apply
        self.scalar = scalar
    }

    /// A rule of the field's own (`field` is its name).
    static func that(_ body: @escaping (_ value: Value, _ field: String, _ validator: inout LeylineValidator) -> Void) -> LeylineRule {
        LeylineRule(apply: body)
    }
}

/// The common rules of scalar fields, which a field table checks without a closure call.
enum LeylineScalarRule {
    /// No rule: nothing to check.
    case none
    case identifier, optionalIdentifier, version
    /// A `float` or `double` field: finite, within the range if one is given.
    case finite(ClosedRange<Double>?)
    /// An enum field: not its 0 value (`LeylineEnumText.unknownTag`).
    case known
    /// Only the rule's closure knows.
    case custom
    /// No rule of the field's own, only the checks its type brings (`LeylineFieldValue.check`),
    /// run in place by the table (kinds `.value`, `.array`, `.labels`, `.floats`).
    case typeChecks
}

extension LeylineRule where Value == String {
    /// Non-empty, bounded, no control characters.
    static var identifier: LeylineRule { LeylineRule(scalar: .identifier) { value, field, v in v.identifier(field, value) } }
    /// May be empty; otherwise as `identifier`.
    static var optionalIdentifier: LeylineRule {
        LeylineRule(scalar: .optionalIdentifier) { value, field, v in v.optionalIdentifier(field, value) }
    }
}

extension LeylineRule where Value: BinaryFloatingPoint {
    static var finite: LeylineRule { LeylineRule(scalar: .finite(nil)) { value, field, v in v.finite(field, Double(value)) } }
    static func finite(in range: ClosedRange<Double>) -> LeylineRule {
        LeylineRule(scalar: .finite(range)) { value, field, v in v.finite(field, Double(value), in: range) }
    }
    /// Finite and at least zero.
    static var nonNegative: LeylineRule { finite(in: 0...Double(Float.greatestFiniteMagnitude)) }
}

extension LeylineRule where Value: LeylineEnum {
    /// Set: not the enum's 0 "unknown" value.
    static var known: LeylineRule { LeylineRule(scalar: .known) { value, field, v in v.known(field, value) } }
}

extension LeylineRule where Value == UInt32 {
    /// Only `LeylineVersion.current`.
    static var version: LeylineRule { LeylineRule(scalar: .version) { value, field, v in v.version(value, field: field) } }
    static var atLeastOne: LeylineRule { LeylineRule { value, field, v in if value == 0 { v.fail(field, "must be at least 1") } } }
}
