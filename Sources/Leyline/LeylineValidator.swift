public import EsperJSON

/// A Leyline value that can check itself beyond what its JSON types enforce: the version
/// rule, required ids, ranges, finite floats, known enum values, sane timestamps.
public protocol LeylineValidatable {
    func validate(_ validator: inout LeylineValidator)
    /// `validate` of the value at `value`, where it is stored. The default calls `validate` on
    /// it; a message checked only by its field table can walk the table there instead
    /// (`SeedState`: eight of them in every state packet), with no copy of the value — a copy
    /// retains and releases every string and map it holds.
    static func validate(at value: UnsafePointer<Self>, _ validator: inout LeylineValidator)
}

extension LeylineValidatable {
    public static func validate(at value: UnsafePointer<Self>, _ validator: inout LeylineValidator) {
        value.pointee.validate(&validator)
    }
}

extension LeylineValidatable {
    /// Every problem, each naming its field as a client sees it (`seed_states[2].risk_score`).
    public func validationProblems() -> [JSONFieldProblem] {
        var validator = LeylineValidator()
        validate(&validator)
        return validator.problems
    }
}

/// Collects field problems while a message is walked; nested values are checked under the
/// path of the field that holds them.
public struct LeylineValidator: Sendable {
    public private(set) var problems: [JSONFieldProblem] = []
    /// The version found when it was not the current one (so callers can answer
    /// `unsupported_version` rather than a generic validation error).
    public private(set) var unsupportedVersion: UInt32?
    /// Where the walk is; rendered into a path only when a problem is found (valid messages,
    /// the common case, allocate nothing for paths).
    private var location: [Component] = []

    private enum Component {
        case field(String)
        case index(Int)
    }

    /// Ids and names: non-empty, at most this many bytes, no control characters.
    public static let maxIdentifierBytes = 256

    public init() {}

    /// Forgets every problem and the place of the walk, keeping the storage (one validator
    /// serves a batch).
    public mutating func reset() {
        problems.removeAll(keepingCapacity: true)
        unsupportedVersion = nil
        location.removeAll(keepingCapacity: true)
    }

    public mutating func fail(_ field: String, _ message: String) {
        problems.append(JSONFieldProblem(field: path(field), message: message))
    }

    private func path(_ field: String) -> String {
        var out = ""
        for component in location {
            switch component {
            case .field(let name):
                if !out.isEmpty { out += "." }
                out += name
            case .index(let index): out += "[\(index)]"
            }
        }
        if field.isEmpty { return out }
        return out.isEmpty ? field : out + "." + field
    }

    /// The version rule: only `LeylineVersion.current` is accepted.
    public mutating func version(_ value: UInt32, field: String = "version") {
        guard value != LeylineVersion.current else { return }
        if unsupportedVersion == nil { unsupportedVersion = value }
        fail(field, "unsupported version \(value); only version \(LeylineVersion.current) is accepted")
    }

    /// A required identifier.
    public mutating func identifier(_ field: String, _ value: String) {
        if value.isEmpty {
            fail(field, "is required and must not be empty")
        } else {
            optionalIdentifier(field, value)
        }
    }

    /// An identifier that may be empty (e.g. a seed id on a command that targets no seed).
    public mutating func optionalIdentifier(_ field: String, _ value: String) {
        func scan(_ utf8: UnsafeBufferPointer<UInt8>) -> (Int, Bool) {
            for byte in utf8 where byte < 0x20 || byte == 0x7F { return (utf8.count, true) }
            return (utf8.count, false)
        }
        // Native strings lend their bytes without a copy (a retain and a release per id).
        let (length, hasControl) =
            value.utf8.withContiguousStorageIfAvailable(scan)
            ?? {
                var value = value
                return value.withUTF8(scan)
            }()
        if length > LeylineValidator.maxIdentifierBytes {
            fail(field, "is \(length) bytes; at most \(LeylineValidator.maxIdentifierBytes) allowed")
        } else if hasControl {
            fail(field, "must not contain control characters")
        }
    }

    /// Whether `identifier` (`required`) or `optionalIdentifier` finds nothing wrong with
    /// `text`: a field table's walk decides here and calls them only to report. False when the
    /// string's bytes are not at hand (a bridged string): the validator then looks itself.
    static func passes(identifier text: UnsafePointer<String>, required: Bool) -> Bool {
        text.pointee.utf8.withContiguousStorageIfAvailable { utf8 in
            if utf8.isEmpty { return !required }
            guard utf8.count <= maxIdentifierBytes else { return false }
            for byte in utf8 where byte < 0x20 || byte == 0x7F { return false }
            return true
        } ?? false
    }

    public mutating func finite(_ field: String, _ value: Double, in range: ClosedRange<Double>? = nil) {
        guard value.isFinite else {
            fail(field, "\(value) is not a finite number")
            return
        }
        if let range, !range.contains(value) {
            fail(field, "\(value) is outside \(range.lowerBound)...\(range.upperBound)")
        }
    }

    public mutating func finite(_ field: String, _ value: Float, in range: ClosedRange<Double>? = nil) {
        finite(field, Double(value), in: range)
    }

    /// A `map<string,float>`: keys non-empty, values finite.
    public mutating func metrics(_ field: String, _ map: [String: Float]) {
        for (key, value) in map {
            if key.isEmpty { fail(field, "keys must not be empty") }
            if !value.isFinite { fail(field + "." + key, "\(value) is not a finite number") }
        }
    }

    public mutating func labels(_ field: String, _ map: [String: String]) {
        for key in map.keys where key.isEmpty { fail(field, "keys must not be empty") }
    }

    /// An enum field that must be set (not its 0 "unknown" value).
    public mutating func known<E: LeylineEnum>(_ field: String, _ value: E) {
        if value.rawValue == 0 { fail(field, "must be set (not \(value.name))") }
    }

    public mutating func timestamp(_ field: String, _ value: LeylineTimestamp) {
        if !value.isValid { fail(field, "timestamp outside 0001-01-01..9999-12-31") }
    }

    public mutating func duration(_ field: String, _ value: LeylineDuration, nonNegative: Bool = true) {
        if !value.isValid {
            fail(field, "duration out of range")
        } else if nonNegative && value < .zero {
            fail(field, "must not be negative")
        }
    }

    /// Checks a nested message under `field`.
    public mutating func nested(_ field: String, _ value: some LeylineValidatable) {
        location.append(.field(field))
        value.validate(&self)
        location.removeLast()
    }

    /// Checks the nested message at `value` under `field`, where it is stored.
    mutating func nested<T: LeylineValidatable>(_ field: String, at value: UnsafePointer<T>) {
        location.append(.field(field))
        value.pointee.validate(&self)
        location.removeLast()
    }

    /// Checks every element of a repeated field under `field[i]`.
    public mutating func each<T: LeylineValidatable>(_ field: String, _ values: [T]) {
        guard !values.isEmpty else { return }
        location.append(.field(field))
        for index in values.indices {
            location.append(.index(index))
            values[index].validate(&self)
            location.removeLast()
        }
        location.removeLast()
    }

    /// Checks every element of the repeated field at `values` where it is stored, under
    /// `field[i]` (as `each`): no element is copied (a copy retains and releases every string,
    /// array and map it holds).
    mutating func each<T: LeylineValidatable>(_ field: String, at values: UnsafePointer<[T]>) {
        values.pointee.withUnsafeBufferPointer { elements in
            guard let base = elements.baseAddress, !elements.isEmpty else { return }
            location.append(.field(field))
            for index in elements.indices {
                location.append(.index(index))
                T.validate(at: base + index, &self)
                location.removeLast()
            }
            location.removeLast()
        }
    }

    /// Checks every value of a message map under `field.key`.
    public mutating func eachValue(_ field: String, _ values: [String: some LeylineValidatable]) {
        for key in values.keys.sorted() {
            if key.isEmpty { fail(field, "keys must not be empty") }
            location.append(.field(field))
            nested(key, values[key]!)
            location.removeLast()
        }
    }
}

/// The Leyline schema version every versioned message carries.
public enum LeylineVersion {
    /// The only accepted value (strict mode: `validate(v) ⇔ v == 1`).
    public static let current: UInt32 = 1
}
