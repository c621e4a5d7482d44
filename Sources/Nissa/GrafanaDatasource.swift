public import EsperJSON
import Leyline

/// A request field that is missing or unusable (the route answers 422 naming `field`).
public struct GrafanaRequestError: Error, Sendable, Equatable {
    public let field: String
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }
}

/// The Grafana JSON datasource (plugin `simpod-json-datasource`, PROTOCOLS.md), answered
/// from Nissa's memory: ring buffers for time series, the alert history and lifecycle log
/// for tables and annotations, run and seed ids for variables.
///
/// Targets: every telemetry metric name (`tolaria.training.loss`), with optional payload
/// filters `run`, `seed`, `stream`, `subsystem`; and three tables — `nissa.alerts`,
/// `nissa.events` (both with a time column: use them for annotations) and `nissa.slo`; and
/// whatever its `providers` answer (study curves).
/// Targets and payload values are `GrafanaPattern`s (the plugin interpolates variables in
/// regex format). Lenient where Grafana sends what Esper cannot use — unknown payload keys,
/// ad-hoc filters on other keys or with operators Esper does not know are ignored, so one
/// panel's query never fails the others of the request — and strict (422 naming the field)
/// where the request cannot be answered. The older SimpleJSON routes `/search` and
/// `/annotations` and the `adhocFilters` / `data` fields of plugin versions before 0.6 are
/// answered too.
public struct GrafanaDatasource: Sendable {
    public let nissa: NissaService
    /// Targets answered outside Nissa's memory, asked before Nissa's own.
    public let providers: [any GrafanaTargetProvider]

    public init(nissa: NissaService, providers: [any GrafanaTargetProvider] = []) {
        self.nissa = nissa
        self.providers = providers
    }

    /// Nissa's variables and the providers'.
    var variableNames: [String] { GrafanaDatasource.variables + providers.flatMap(\.variableNames) }

    public static let tables = ["nissa.alerts", "nissa.events", "nissa.slo"]
    public static let variables = ["runs", "seeds", "metrics", "subsystems", "streams"]

    // MARK: /metrics, /metric-payload-options

    /// The whole dropdown: the plugin sends the selected `metric` and `payload` as context and
    /// shows the reply as every option, so nothing is filtered by them.
    public func metrics(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        _ = try GrafanaDatasource.object(body, optional: true)
        var items: [JSONValue] = []
        for name in nissa.store.names() {
            let payloads: [JSONValue] = MetricNaming.labelNames.map { label in
                .object([
                    "name": .string(label), "type": "select", "label": .string(label),
                    "options": .array(
                        nissa.store.labelValues(label, metric: name).map { .object(["label": .string($0), "value": .string($0)]) }),
                ])
            }
            items.append(.object(["label": .string(name), "value": .string(name), "payloads": .array(payloads)]))
        }
        for table in GrafanaDatasource.tables + providers.flatMap({ $0.targetNames() }) {
            items.append(.object(["label": .string(table), "value": .string(table), "payloads": .array([])]))
        }
        return .array(items)
    }

    public func payloadOptions(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: false)
        guard let metric = object["metric"]?.stringValue else { throw GrafanaRequestError(field: "metric", message: "required, a string") }
        guard let name = object["name"]?.stringValue else { throw GrafanaRequestError(field: "name", message: "required, a string") }
        guard MetricNaming.labelNames.contains(name) else {
            throw GrafanaRequestError(field: "name", message: "'\(name)' is not one of \(MetricNaming.labelNames.joined(separator: ", "))")
        }
        let pattern = GrafanaPattern(metric)
        var values = Set<String>()
        for metricName in nissa.store.names() where metric.isEmpty || pattern.matches(metricName) {
            values.formUnion(nissa.store.labelValues(name, metric: metricName))
        }
        return .array(values.sorted().map { .object(["label": .string($0), "value": .string($0)]) })
    }

    // MARK: /variable, /search, /tag-keys, /tag-values

    /// A variable query: `{"payload": {"target": "runs"}}` from the plugin's variable editor
    /// (`query.query` in the dashboard, placed under `target` unless "Raw JSON" is on, when
    /// the query is the JSON object itself); older versions sent the text as `payload` or
    /// `target` directly.
    public func variable(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: false)
        var target: String?
        if let payload = object["payload"] {
            target = payload.stringValue ?? payload["target"]?.stringValue
        }
        target = target ?? object["target"]?.stringValue
        guard let target, !target.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw GrafanaRequestError(field: "payload.target", message: "required, one of \(variableNames.joined(separator: ", "))")
        }
        guard let values = variableValues(target) else {
            throw GrafanaRequestError(
                field: "payload.target", message: "'\(target)' is not one of \(variableNames.joined(separator: ", "))")
        }
        return .array(values.map { .object(["__text": .string($0), "__value": .string($0)]) })
    }

    func variableValues(_ target: String) -> [String]? {
        let name = GrafanaPattern(target.trimmingCharacters(in: .whitespaces)).unescaped
        for provider in providers {
            if let values = provider.variableValues(name) { return values }
        }
        return switch name {
        case "runs": nissa.runIds()
        case "seeds": nissa.seedIds()
        case "metrics": nissa.store.names()
        case "subsystems": nissa.store.labelValues("subsystem")
        case "streams": nissa.store.labelValues("stream")
        default: nil
        }
    }

    /// The SimpleJSON `/search` (plugin versions before 0.6, and the older grafana-simple-json
    /// datasource): `{"target": "runs"}` lists a variable's values; any other target lists the
    /// queryable targets it matches (empty: all of them), as plain strings.
    public func search(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: true)
        var target = ""
        if let value = object["target"], value != .null {
            guard let text = value.stringValue else { throw GrafanaRequestError(field: "target", message: "must be a string") }
            target = text.trimmingCharacters(in: .whitespaces)
        }
        if let values = variableValues(target) { return .array(values.map { .string($0) }) }
        let names = nissa.store.names() + GrafanaDatasource.tables + providers.flatMap { $0.targetNames() }
        let pattern = GrafanaPattern(target)
        return .array(names.filter { target.isEmpty || pattern.matches($0) }.map { .string($0) })
    }

    public func tagKeys() -> JSONValue {
        .array(MetricNaming.labelNames.map { .object(["type": "string", "text": .string($0)]) })
    }

    public func tagValues(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: false)
        guard let key = object["key"]?.stringValue else { throw GrafanaRequestError(field: "key", message: "required, a string") }
        guard MetricNaming.labelNames.contains(key) else {
            throw GrafanaRequestError(field: "key", message: "'\(key)' is not one of \(MetricNaming.labelNames.joined(separator: ", "))")
        }
        let values = key == "run" ? nissa.runIds() : key == "seed" ? nissa.seedIds() : nissa.store.labelValues(key)
        return .array(values.map { .object(["text": .string($0)]) })
    }

    // MARK: /query

    public struct Target {
        public var target: GrafanaPattern
        public var refId: String
        /// Payload filters on labels: the series' label must match one of the patterns.
        public var filters: [String: [GrafanaPattern]]
    }

    public struct Query {
        public var from: Int64
        public var to: Int64
        public var maxDataPoints: Int
        public var targets: [Target]
        public var adhoc: [GrafanaAdhocFilter]
    }

    public static func parseRange(_ object: [String: JSONValue]) throws(GrafanaRequestError) -> (from: Int64, to: Int64) {
        guard let range = object["range"]?.objectValue else {
            throw GrafanaRequestError(field: "range", message: "required, an object with from and to")
        }
        func time(_ key: String) throws(GrafanaRequestError) -> Int64 {
            guard let value = range[key] else { throw GrafanaRequestError(field: "range.\(key)", message: "required, an RFC 3339 time") }
            if let text = value.stringValue {
                do {
                    return try LeylineTimestamp(rfc3339: text).millisecondsSinceEpoch
                } catch {
                    throw GrafanaRequestError(field: "range.\(key)", message: "'\(text)' is not an RFC 3339 time")
                }
            }
            if let ms = value.intValue { return ms }
            throw GrafanaRequestError(field: "range.\(key)", message: "must be an RFC 3339 time")
        }
        let from = try time("from")
        let to = try time("to")
        guard from <= to else { throw GrafanaRequestError(field: "range", message: "from is after to") }
        return (from, to)
    }

    public static func parseQuery(_ body: JSONValue?) throws(GrafanaRequestError) -> Query {
        let object = try GrafanaDatasource.object(body, optional: false)
        let (from, to) = try parseRange(object)
        var maxDataPoints = 1000
        if let value = object["maxDataPoints"], value != .null {
            guard let number = value.doubleValue, number == number.rounded(), number >= 1, number <= 1_000_000 else {
                throw GrafanaRequestError(field: "maxDataPoints", message: "must be an integer in 1...1000000")
            }
            maxDataPoints = Int(number)
        }
        guard let items = object["targets"]?.arrayValue else { throw GrafanaRequestError(field: "targets", message: "required, an array") }
        var targets: [Target] = []
        for (index, item) in items.enumerated() {
            guard let target = item.objectValue else { throw GrafanaRequestError(field: "targets[\(index)]", message: "must be an object") }
            if target["hide"]?.boolValue == true { continue }
            // A query whose metric is not chosen yet: nothing to answer for it, and no reason to
            // fail the request's other queries.
            guard let name = target["target"]?.stringValue, !name.isEmpty else { continue }
            // `payload` since plugin 0.5; `data` (JSON text) before.
            let filters = try parsePayload(target["payload"] ?? target["data"], field: "targets[\(index)].payload")
            targets.append(Target(target: GrafanaPattern(name), refId: target["refId"]?.stringValue ?? "", filters: filters))
        }
        // `filters` from Grafana (ad-hoc variables), `adhocFilters` from plugin versions before 0.6.
        var adhoc: [GrafanaAdhocFilter] = []
        for key in ["filters", "adhocFilters"] {
            guard let value = object[key], value != .null else { continue }
            guard let filters = value.arrayValue else { throw GrafanaRequestError(field: key, message: "must be an array") }
            for (index, filter) in filters.enumerated() {
                guard filter.objectValue != nil else { throw GrafanaRequestError(field: "\(key)[\(index)]", message: "must be an object") }
                if let parsed = GrafanaAdhocFilter(filter) { adhoc.append(parsed) }
            }
        }
        return Query(from: from, to: to, maxDataPoints: maxDataPoints, targets: targets, adhoc: adhoc)
    }

    /// The label filters of a payload (an object, or JSON text from the plugin's code editor).
    /// Keys that are not labels are ignored (a dashboard may carry payload for another server).
    static func parsePayload(_ payload: JSONValue?, field: String) throws(GrafanaRequestError) -> [String: [GrafanaPattern]] {
        guard let payload, payload != .null else { return [:] }
        var fields = payload.objectValue
        if fields == nil, let text = payload.stringValue {
            if text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                fields = [:]
            } else if let parsed = try? JSONValue.parse(text), let object = parsed.objectValue {
                fields = object
            }
        }
        guard let fields else { throw GrafanaRequestError(field: field, message: "must be an object (or its JSON text)") }
        var filters: [String: [GrafanaPattern]] = [:]
        for (key, value) in fields where MetricNaming.labelNames.contains(key) {
            var texts: [String] = []
            if let array = value.arrayValue {
                for item in array {
                    guard let text = GrafanaDatasource.scalarText(item) else {
                        throw GrafanaRequestError(field: "\(field).\(key)", message: "must be a string or an array of strings")
                    }
                    texts.append(text)
                }
            } else if let text = GrafanaDatasource.scalarText(value) {
                texts = [text]
            } else if value != .null {
                throw GrafanaRequestError(field: "\(field).\(key)", message: "must be a string or an array of strings")
            }
            let patterns = texts.filter { !$0.isEmpty }.map(GrafanaPattern.init)
            if !patterns.isEmpty { filters[key] = patterns }
        }
        return filters
    }

    /// A string, or a number or boolean as text (the plugin's select options may be numbers).
    static func scalarText(_ value: JSONValue) -> String? {
        if let text = value.stringValue { return text }
        if let bool = value.boolValue { return bool ? "true" : "false" }
        if let number = value.doubleValue {
            return number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
        }
        return nil
    }

    /// The table a target names (`nissa.alerts`, or `nissa\.alerts` as a regex-escaped variable).
    static func table(_ target: GrafanaPattern) -> String? {
        let name = target.unescaped
        return tables.contains(name) ? name : nil
    }

    /// The `/query` answer, as JSON bytes. Series carry their labels as `tags` and every frame
    /// its query's `refId`, so a panel with several queries can tell them apart.
    public func query(_ body: JSONValue?) throws(GrafanaRequestError) -> [UInt8] {
        let query = try GrafanaDatasource.parseQuery(body)
        var out = JSONOut(capacity: 16 * 1024)
        out.raw("[")
        var first = true
        func separator() {
            if !first { out.raw(",") }
            first = false
        }
        let names = nissa.store.names()
        targets: for target in query.targets {
            for provider in providers {
                guard let frames = try provider.frames(target.target, refId: target.refId) else { continue }
                for frame in frames {
                    guard let bytes = try? frame.serialized() else { continue }
                    separator()
                    out.raw(bytes: bytes)
                }
                continue targets
            }
            switch GrafanaDatasource.table(target.target) {
            case "nissa.alerts":
                separator()
                alertsTable(query, refId: target.refId, into: &out)
            case "nissa.events":
                separator()
                eventsTable(query, refId: target.refId, into: &out)
            case "nissa.slo":
                separator()
                sloTable(refId: target.refId, into: &out)
            default:
                for name in names where target.target.matches(name) {
                    for series in nissa.store.query(
                        name: name, filters: [:], from: query.from, to: query.to, maxPoints: query.maxDataPoints)
                    {
                        guard
                            target.filters.allSatisfy({ key, patterns in
                                // A series without the label compares as "", so `.*` ("All") keeps it.
                                patterns.contains { $0.matches(series.key.label(key) ?? "") }
                            })
                        else { continue }
                        guard query.adhoc.allSatisfy({ $0.matches(series.key) }) else { continue }
                        separator()
                        out.raw("{\"target\":")
                        out.string(series.key.description)
                        out.raw(",\"refId\":")
                        out.string(target.refId)
                        out.raw(",\"tags\":{")
                        for (index, label) in series.key.labels.enumerated() {
                            if index > 0 { out.raw(",") }
                            out.string(label.name)
                            out.raw(":")
                            out.string(label.value)
                        }
                        out.raw("},\"datapoints\":[")
                        for (index, point) in series.points.enumerated() {
                            if index > 0 { out.raw(",") }
                            out.raw("[")
                            out.double(point.value)
                            out.raw(",")
                            out.int(point.time)
                            out.raw("]")
                        }
                        out.raw("]}")
                    }
                }
            }
        }
        out.raw("]")
        return out.bytes
    }

    // MARK: /annotations (SimpleJSON)

    /// The SimpleJSON annotation query: `{"annotation": {"query": "nissa.alerts", ...},
    /// "range": ...}` → `[{"annotation", "time", "timeEnd", "title", "text", "tags"}]`. The
    /// query names `nissa.alerts` or `nissa.events` (empty: both).
    public func annotations(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: false)
        let (from, to) = try GrafanaDatasource.parseRange(object)
        guard let annotation = object["annotation"]?.objectValue else {
            throw GrafanaRequestError(field: "annotation", message: "required, an object")
        }
        var text = ""
        if let query = annotation["query"], query != .null {
            guard let value = query.stringValue else { throw GrafanaRequestError(field: "annotation.query", message: "must be a string") }
            text = GrafanaPattern(value.trimmingCharacters(in: .whitespaces)).unescaped
        }
        let wantsAlerts = text.isEmpty || text == "nissa.alerts" || text == "alerts"
        let wantsEvents = text.isEmpty || text == "nissa.events" || text == "events"
        guard wantsAlerts || wantsEvents else {
            throw GrafanaRequestError(
                field: "annotation.query", message: "'\(text)' is not nissa.alerts or nissa.events (or empty for both)")
        }
        let echo = JSONValue.object(annotation)
        var items: [JSONValue] = []
        if wantsAlerts {
            for alert in nissa.alerts.history() {
                let start = (alert.firedAt ?? alert.startedAt).millisecondsSinceEpoch
                let end = alert.resolvedAt?.millisecondsSinceEpoch ?? alert.updatedAt.millisecondsSinceEpoch
                guard end >= from && start <= to else { continue }
                let tags = ["alert", alert.severity.rawValue, alert.state.rawValue] + (alert.drill ? ["drill"] : [])
                items.append(
                    .object([
                        "annotation": echo, "time": .int(start), "timeEnd": .int(end),
                        "title": .string("\(alert.rule) \(alert.state.rawValue)"),
                        "text": .string(
                            "\(alert.metric) = \(alert.value) from \(alert.source) (\(alert.comparator.rawValue) \(alert.threshold))"),
                        "tags": .array(tags.map { .string($0) }),
                    ]))
            }
        }
        if wantsEvents {
            for entry in nissa.lifecycle.entries(from: from, to: to) {
                items.append(
                    .object([
                        "annotation": echo, "time": .int(entry.time), "title": .string(entry.title), "text": .string(entry.text),
                        "tags": .array(entry.tags.map { .string($0) }),
                    ]))
            }
        }
        return .array(items)
    }

    private func tableHeader(_ columns: [(String, String)], refId: String, into out: inout JSONOut) {
        out.raw("{\"type\":\"table\",\"refId\":")
        out.string(refId)
        out.raw(",\"columns\":[")
        for (index, column) in columns.enumerated() {
            if index > 0 { out.raw(",") }
            out.raw("{\"text\":")
            out.string(column.0)
            out.raw(",\"type\":")
            out.string(column.1)
            out.raw("}")
        }
        out.raw("],\"rows\":[")
    }

    private func alertsTable(_ query: Query, refId: String, into out: inout JSONOut) {
        tableHeader(
            [
                ("Time", "time"), ("TimeEnd", "time"), ("Title", "string"), ("Text", "string"), ("Tags", "string"),
                ("Rule", "string"), ("State", "string"), ("Severity", "string"), ("Source", "string"), ("Value", "number"),
                ("Id", "string"),
            ], refId: refId, into: &out)
        var first = true
        for alert in nissa.alerts.history() {
            let start = (alert.firedAt ?? alert.startedAt).millisecondsSinceEpoch
            let end = alert.resolvedAt?.millisecondsSinceEpoch ?? alert.updatedAt.millisecondsSinceEpoch
            guard end >= query.from && start <= query.to else { continue }
            if !first { out.raw(",") }
            first = false
            out.raw("[")
            out.int(start); out.raw(",")
            out.int(end); out.raw(",")
            out.string("\(alert.rule) \(alert.state.rawValue)"); out.raw(",")
            out.string("\(alert.metric) = \(alert.value) from \(alert.source) (\(alert.comparator.rawValue) \(alert.threshold))");
            out.raw(",")
            out.string((["alert", alert.severity.rawValue, alert.state.rawValue] + (alert.drill ? ["drill"] : [])).joined(separator: ","));
            out.raw(",")
            out.string(alert.rule); out.raw(",")
            out.string(alert.state.rawValue); out.raw(",")
            out.string(alert.severity.rawValue); out.raw(",")
            out.string(alert.source); out.raw(",")
            out.double(alert.value); out.raw(",")
            out.string(alert.id)
            out.raw("]")
        }
        out.raw("]}")
    }

    private func eventsTable(_ query: Query, refId: String, into out: inout JSONOut) {
        tableHeader(
            [
                ("Time", "time"), ("Title", "string"), ("Text", "string"), ("Tags", "string"), ("Kind", "string"),
                ("Source", "string"),
            ], refId: refId, into: &out)
        for (index, entry) in nissa.lifecycle.entries(from: query.from, to: query.to).enumerated() {
            if index > 0 { out.raw(",") }
            out.raw("[")
            out.int(entry.time); out.raw(",")
            out.string(entry.title); out.raw(",")
            out.string(entry.text); out.raw(",")
            out.string(entry.tags.joined(separator: ",")); out.raw(",")
            out.string(entry.kind); out.raw(",")
            out.string(entry.source)
            out.raw("]")
        }
        out.raw("]}")
    }

    private func sloTable(refId: String, into out: inout JSONOut) {
        tableHeader(
            [
                ("Time", "time"), ("SLO", "string"), ("Objective", "number"), ("Actual", "number"), ("Burn rate", "number"),
                ("Burn rate (short)", "number"), ("Budget remaining", "number"), ("Breached", "string"),
            ], refId: refId, into: &out)
        let now = LeylineTimestamp.now().millisecondsSinceEpoch
        for (index, (key, status)) in nissa.slo.snapshot(now: now).sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.raw(",") }
            out.raw("[")
            out.int(now); out.raw(",")
            out.string(key); out.raw(",")
            out.double(status.objective); out.raw(",")
            out.double(status.actual); out.raw(",")
            out.double(status.burnRate); out.raw(",")
            out.double(status.burnRateShort); out.raw(",")
            out.double(status.budgetRemaining); out.raw(",")
            out.string(status.breached ? "yes" : "no")
            out.raw("]")
        }
        out.raw("]}")
    }

    static func object(_ body: JSONValue?, optional: Bool) throws(GrafanaRequestError) -> [String: JSONValue] {
        guard let body else {
            if optional { return [:] }
            throw GrafanaRequestError(field: "", message: "a JSON object body is required")
        }
        guard let object = body.objectValue else { throw GrafanaRequestError(field: "", message: "the body must be a JSON object") }
        return object
    }
}
