public import EsperJSON
import Leyline

/// A request field that is missing or unusable (the route answers 422 naming `field`).
public struct GrafanaRequestError: Error, Sendable, Equatable {
    public let field: String
    public let message: String
}

/// The Grafana JSON datasource (plugin `simpod-json-datasource`, PROTOCOLS.md), answered
/// from Nissa's memory: ring buffers for time series, the alert history and lifecycle log
/// for tables and annotations, run and seed ids for variables.
///
/// Targets: every telemetry metric name (`tolaria.training.loss`), with optional payload
/// filters `run`, `seed`, `stream`, `subsystem`; and three tables — `nissa.alerts`,
/// `nissa.events` (both with a time column: use them for annotations) and `nissa.slo`.
public struct GrafanaDatasource: Sendable {
    public let nissa: NissaService

    public init(nissa: NissaService) { self.nissa = nissa }

    public static let tables = ["nissa.alerts", "nissa.events", "nissa.slo"]
    public static let variables = ["runs", "seeds", "metrics", "subsystems", "streams"]

    // MARK: /metrics, /metric-payload-options

    public func metrics(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: true)
        var wanted: String?
        if let metric = object["metric"], metric != .null {
            guard let text = metric.stringValue else { throw GrafanaRequestError(field: "metric", message: "must be a string") }
            wanted = text.isEmpty ? nil : text
        }
        var items: [JSONValue] = []
        for name in nissa.store.names() where wanted == nil || wanted == name {
            let payloads: [JSONValue] = MetricNaming.labelNames.map { label in
                .object([
                    "name": .string(label), "type": "select", "label": .string(label),
                    "options": .array(
                        nissa.store.labelValues(label, metric: name).map { .object(["label": .string($0), "value": .string($0)]) }),
                ])
            }
            items.append(.object(["label": .string(name), "value": .string(name), "payloads": .array(payloads)]))
        }
        for table in GrafanaDatasource.tables where wanted == nil || wanted == table {
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
        return .array(nissa.store.labelValues(name, metric: metric).map { .object(["label": .string($0), "value": .string($0)]) })
    }

    // MARK: /variable, /tag-keys, /tag-values

    public func variable(_ body: JSONValue?) throws(GrafanaRequestError) -> JSONValue {
        let object = try GrafanaDatasource.object(body, optional: false)
        // The plugin sends {"payload": {"target": "..."}, "range": ...}; older versions sent
        // the query text as "payload" or "target" directly.
        var target: String?
        if let payload = object["payload"] {
            target = payload.stringValue ?? payload["target"]?.stringValue
        }
        target = target ?? object["target"]?.stringValue
        guard let target, !target.isEmpty else {
            throw GrafanaRequestError(
                field: "payload.target", message: "required, one of \(GrafanaDatasource.variables.joined(separator: ", "))")
        }
        let values: [String]
        switch target.trimmingCharacters(in: .whitespaces) {
        case "runs": values = nissa.runIds()
        case "seeds": values = nissa.seedIds()
        case "metrics": values = nissa.store.names()
        case "subsystems": values = nissa.store.labelValues("subsystem")
        case "streams": values = nissa.store.labelValues("stream")
        default:
            throw GrafanaRequestError(
                field: "payload.target", message: "'\(target)' is not one of \(GrafanaDatasource.variables.joined(separator: ", "))")
        }
        return .array(values.map { .object(["__text": .string($0), "__value": .string($0)]) })
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

    public struct Query: Sendable {
        public var from: Int64
        public var to: Int64
        public var maxDataPoints: Int
        public var targets: [(target: String, refId: String, filters: [String: [String]])]
        public var adhoc: [(key: String, equal: Bool, value: String)]
    }

    public static func parseQuery(_ body: JSONValue?) throws(GrafanaRequestError) -> Query {
        let object = try GrafanaDatasource.object(body, optional: false)
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
        var maxDataPoints = 1000
        if let value = object["maxDataPoints"], value != .null {
            guard let number = value.doubleValue, number == number.rounded(), number >= 1, number <= 1_000_000 else {
                throw GrafanaRequestError(field: "maxDataPoints", message: "must be an integer in 1...1000000")
            }
            maxDataPoints = Int(number)
        }
        guard let items = object["targets"]?.arrayValue else { throw GrafanaRequestError(field: "targets", message: "required, an array") }
        var targets: [(String, String, [String: [String]])] = []
        for (index, item) in items.enumerated() {
            guard let target = item.objectValue else { throw GrafanaRequestError(field: "targets[\(index)]", message: "must be an object") }
            if target["hide"]?.boolValue == true { continue }
            guard let name = target["target"]?.stringValue, !name.isEmpty else {
                throw GrafanaRequestError(field: "targets[\(index)].target", message: "required, a metric name or table")
            }
            var filters: [String: [String]] = [:]
            if let payload = target["payload"], payload != .null {
                var fields = payload.objectValue
                if fields == nil, let text = payload.stringValue {
                    // The plugin's raw editor sends the payload as JSON text.
                    if text.trimmingCharacters(in: .whitespaces).isEmpty {
                        fields = [:]
                    } else if let parsed = try? JSONValue.parse(text), let object = parsed.objectValue {
                        fields = object
                    }
                }
                guard let fields else { throw GrafanaRequestError(field: "targets[\(index)].payload", message: "must be an object") }
                for (key, value) in fields {
                    guard MetricNaming.labelNames.contains(key) else {
                        throw GrafanaRequestError(
                            field: "targets[\(index)].payload.\(key)",
                            message: "unknown filter; use \(MetricNaming.labelNames.joined(separator: ", "))")
                    }
                    if let text = value.stringValue {
                        if !text.isEmpty { filters[key] = [text] }
                    } else if let array = value.arrayValue, array.allSatisfy({ $0.stringValue != nil }) {
                        let values = array.compactMap(\.stringValue)
                        if !values.isEmpty { filters[key] = values }
                    } else if value != .null {
                        throw GrafanaRequestError(
                            field: "targets[\(index)].payload.\(key)", message: "must be a string or an array of strings")
                    }
                }
            }
            targets.append((name, target["refId"]?.stringValue ?? "", filters))
        }
        var adhoc: [(String, Bool, String)] = []
        if let filters = object["filters"]?.arrayValue {
            for (index, filter) in filters.enumerated() {
                guard let key = filter["key"]?.stringValue, let value = filter["value"]?.stringValue else {
                    throw GrafanaRequestError(field: "filters[\(index)]", message: "needs key and value strings")
                }
                let op = filter["operator"]?.stringValue ?? "="
                guard op == "=" || op == "!=" else {
                    throw GrafanaRequestError(field: "filters[\(index)].operator", message: "'\(op)' is not = or !=")
                }
                adhoc.append((key, op == "=", value))
            }
        }
        return Query(from: from, to: to, maxDataPoints: maxDataPoints, targets: targets, adhoc: adhoc)
    }

    /// The `/query` answer, as JSON bytes.
    public func query(_ body: JSONValue?) throws(GrafanaRequestError) -> [UInt8] {
        let query = try GrafanaDatasource.parseQuery(body)
        var out = JSONOut(capacity: 16 * 1024)
        out.raw("[")
        var first = true
        func separator() {
            if !first { out.raw(",") }
            first = false
        }
        for target in query.targets {
            switch target.target {
            case "nissa.alerts":
                separator()
                alertsTable(query, into: &out)
            case "nissa.events":
                separator()
                eventsTable(query, into: &out)
            case "nissa.slo":
                separator()
                sloTable(into: &out)
            default:
                for series in nissa.store.query(
                    name: target.target, filters: [:], from: query.from, to: query.to, maxPoints: query.maxDataPoints)
                {
                    guard target.filters.allSatisfy({ key, values in series.key.label(key).map(values.contains) ?? false }) else {
                        continue
                    }
                    guard query.adhoc.allSatisfy({ (series.key.label($0.key) == $0.value) == $0.equal }) else { continue }
                    separator()
                    out.raw("{\"target\":")
                    out.string(series.key.description)
                    out.raw(",\"refId\":")
                    out.string(target.refId)
                    out.raw(",\"datapoints\":[")
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
        out.raw("]")
        return out.bytes
    }

    private func tableHeader(_ columns: [(String, String)], into out: inout JSONOut) {
        out.raw("{\"type\":\"table\",\"columns\":[")
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

    private func alertsTable(_ query: Query, into out: inout JSONOut) {
        tableHeader(
            [
                ("Time", "time"), ("TimeEnd", "time"), ("Title", "string"), ("Text", "string"), ("Tags", "string"),
                ("Rule", "string"), ("State", "string"), ("Severity", "string"), ("Source", "string"), ("Value", "number"),
                ("Id", "string"),
            ], into: &out)
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

    private func eventsTable(_ query: Query, into out: inout JSONOut) {
        tableHeader(
            [
                ("Time", "time"), ("Title", "string"), ("Text", "string"), ("Tags", "string"), ("Kind", "string"),
                ("Source", "string"),
            ], into: &out)
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

    private func sloTable(into out: inout JSONOut) {
        tableHeader(
            [
                ("Time", "time"), ("SLO", "string"), ("Objective", "number"), ("Actual", "number"), ("Burn rate", "number"),
                ("Burn rate (short)", "number"), ("Budget remaining", "number"), ("Breached", "string"),
            ], into: &out)
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
