/// One label of a series.
public struct SeriesLabel: Sendable, Hashable, Comparable, Codable {
    public let name: String
    public let value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public static func < (lhs: SeriesLabel, rhs: SeriesLabel) -> Bool { (lhs.name, lhs.value) < (rhs.name, rhs.value) }
}

/// A series: the dotted telemetry name and its labels (kept in `MetricNaming.labelNames`
/// order, so equal label sets compare equal).
public struct SeriesKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let name: String
    public let labels: [SeriesLabel]

    public init(name: String, labels: [SeriesLabel]) {
        self.name = name
        self.labels = labels
    }

    public func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }

    /// `tolaria.training.loss{run="r1",subsystem="tolaria"}`: the Grafana target name.
    public var description: String {
        guard !labels.isEmpty else { return name }
        return name + "{" + labels.map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",") + "}"
    }

    public static func < (lhs: SeriesKey, rhs: SeriesKey) -> Bool {
        if lhs.name != rhs.name { return lhs.name < rhs.name }
        return lhs.labels.lexicographicallyPrecedes(rhs.labels)
    }
}
