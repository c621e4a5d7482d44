public import EsperJSON

/// One Grafana ad-hoc filter (`{"key", "operator", "value"}`, or `values` for the one-of
/// operators) applied to a series' labels. Grafana's UI offers `=`, `!=`, `=~`, `!~`, `<`,
/// `>` and, since Grafana 11, `=|` / `!=|`; `<` and `>` compare numerically when both sides
/// are numbers, as text otherwise. A series without the label compares as the empty string.
public struct GrafanaAdhocFilter {
    public enum Operator: String, Sendable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case matches = "=~"
        case notMatches = "!~"
        case less = "<"
        case greater = ">"
        case oneOf = "=|"
        case notOneOf = "!=|"
    }

    public let key: String
    public let op: Operator
    public let values: [String]
    private let pattern: Regex<AnyRegexOutput>?

    public init(key: String, op: Operator, values: [String]) {
        self.key = key
        self.op = op
        self.values = values
        pattern = (op == .matches || op == .notMatches) ? values.first.flatMap { try? Regex<AnyRegexOutput>($0) } : nil
    }

    /// nil for a filter Esper cannot apply — a key that is not one of its labels, an operator
    /// it does not know, no value — which is then ignored rather than failing the request
    /// (ad-hoc filters apply to every panel of a dashboard, other datasources' too).
    public init?(_ json: JSONValue) {
        guard let key = json["key"]?.stringValue, MetricNaming.labelNames.contains(key) else { return nil }
        guard let op = Operator(rawValue: json["operator"]?.stringValue ?? "=") else { return nil }
        var values: [String] = []
        if let value = json["value"].flatMap({ GrafanaDatasource.scalarText($0) }) { values.append(value) }
        if op == .oneOf || op == .notOneOf, let array = json["values"]?.arrayValue {
            values = array.compactMap { GrafanaDatasource.scalarText($0) }
        }
        guard !values.isEmpty else { return nil }
        if (op == .matches || op == .notMatches) && (try? Regex<AnyRegexOutput>(values[0])) == nil { return nil }
        self.init(key: key, op: op, values: values)
    }

    public func matches(_ series: SeriesKey) -> Bool {
        let actual = series.label(key) ?? ""
        let value = values[0]
        switch op {
        case .equal: return actual == value
        case .notEqual: return actual != value
        case .matches: return pattern.map { (try? $0.wholeMatch(in: actual)) != nil } ?? false
        case .notMatches: return pattern.map { (try? $0.wholeMatch(in: actual)) == nil } ?? true
        case .less, .greater:
            let ordered: Bool
            if let left = Double(actual), let right = Double(value) {
                ordered = op == .less ? left < right : left > right
            } else {
                ordered = op == .less ? actual < value : actual > value
            }
            return ordered
        case .oneOf: return values.contains(actual)
        case .notOneOf: return !values.contains(actual)
        }
    }
}
