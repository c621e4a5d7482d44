public import EsperJSON

/// The Alertmanager wire formats (PROTOCOLS.md): the webhook payload, version "4", that
/// receivers get, and the `POST /api/v2/alerts` body a real Alertmanager accepts.
public enum AlertmanagerPayload {
    /// Alertmanager's "no end time yet" for firing alerts.
    static let zeroTime = "0001-01-01T00:00:00Z"

    public static func labels(_ alert: AlertRecord) -> [String: String] {
        var labels = ["alertname": alert.rule, "severity": alert.severity.rawValue, "source": alert.source, "metric": alert.metric]
        if alert.drill { labels["drill"] = "true" }
        return labels
    }

    public static func annotations(_ alert: AlertRecord, rule: AlertRule) -> [String: String] {
        let increase = rule.mode == .increase ? " (increase over \(formatted(rule.windowSeconds ?? 0)) s)" : ""
        // A resolved alert's value is the sample that cleared it: say so, instead of the
        // firing condition (which would read "104 > 4000").
        let description =
            alert.state == .resolved
            ? "resolved: \(alert.metric) from \(alert.source) is back to \(formatted(alert.value))\(increase), "
                + "within the threshold (fires when \(alert.comparator.rawValue) \(formatted(alert.threshold)))"
            : "\(alert.metric) from \(alert.source): \(formatted(alert.value)) \(alert.comparator.rawValue) "
                + "\(formatted(alert.threshold))\(increase), \(alert.consecutive) consecutive"
        var annotations = [
            "summary": alert.state == .resolved ? "Resolved: " + alert.summary : alert.summary,
            "description": description,
            "alert_id": alert.id,
            "value": formatted(alert.value),
        ]
        if let runbook = rule.runbook { annotations["runbook"] = runbook }
        return annotations
    }

    static func formatted(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Alertmanager's fingerprint of a label set (prometheus/common `model.LabelSet.Fingerprint`,
    /// `labelSetToFingerprint`): FNV-1a 64 over the label names sorted bytewise, each name and
    /// each value followed by the separator byte 0xff, as 16 lower-case hex digits (`%016x`).
    /// The same alert has the same fingerprint in Esper's webhooks and in Alertmanager's API.
    public static func fingerprint(_ labels: [String: String]) -> String {
        let prime: UInt64 = 0x0000_0100_0000_01b3
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (name, value) in labels.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* prime }
            hash = (hash ^ 0xff) &* prime
            for byte in value.utf8 { hash = (hash ^ UInt64(byte)) &* prime }
            hash = (hash ^ 0xff) &* prime
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The labels an alert's notification group is made of (Alertmanager's `group_by`).
    public static let groupBy = ["alertname", "source"]

    /// Alertmanager's group key (`dispatch.aggrGroup.GroupKey`): the route's key, `{}` for the
    /// root route without matchers, a colon, then the group labels as `model.LabelSet.String`
    /// writes them — `{alertname="x", source="y"}`, names sorted, values Go-quoted.
    public static func groupKey(_ labels: [String: String], routeKey: String = "{}") -> String {
        let pairs = labels.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { "\($0.key)=\(goQuoted($0.value))" }
        return routeKey + ":{" + pairs.joined(separator: ", ") + "}"
    }

    /// Go's `strconv.Quote` for the characters label values hold: `"` and `\` escaped, control
    /// characters as `\n`, `\t`… or `\xNN`, other characters as they are.
    static func goQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count < 2 ? "0" : "") + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    static func object(_ map: [String: String]) -> JSONValue { .object(map.mapValues { .string($0) }) }

    static func generatorURL(_ alert: AlertRecord, externalURL: String) -> String {
        externalURL + "/api/v1/nissa/alerts?rule=" + alert.rule
    }

    static func alertObject(_ alert: AlertRecord, rule: AlertRule, externalURL: String, withStatus: Bool) -> JSONValue {
        let labels = labels(alert)
        var object: [String: JSONValue] = [
            "labels": AlertmanagerPayload.object(labels),
            "annotations": AlertmanagerPayload.object(annotations(alert, rule: rule)),
            "startsAt": .string((alert.firedAt ?? alert.startedAt).rfc3339),
            "endsAt": .string(alert.state == .resolved ? (alert.resolvedAt ?? alert.updatedAt).rfc3339 : zeroTime),
            "generatorURL": .string(generatorURL(alert, externalURL: externalURL)),
        ]
        if withStatus {
            object["status"] = .string(alert.state == .resolved ? "resolved" : "firing")
            object["fingerprint"] = .string(fingerprint(labels))
        }
        return .object(object)
    }

    /// The webhook body for one receiver and one alert (one group per alert: its labels).
    public static func webhook(_ alert: AlertRecord, rule: AlertRule, receiver: String, externalURL: String) -> JSONValue {
        let labels = labels(alert)
        let groupLabels = labels.filter { groupBy.contains($0.key) }
        return .object([
            "version": "4",
            "groupKey": .string(groupKey(groupLabels)),
            "truncatedAlerts": .int(0),
            "status": .string(alert.state == .resolved ? "resolved" : "firing"),
            "receiver": .string(receiver),
            "groupLabels": object(groupLabels),
            "commonLabels": object(labels),
            "commonAnnotations": object(annotations(alert, rule: rule)),
            "externalURL": .string(externalURL),
            "alerts": .array([alertObject(alert, rule: rule, externalURL: externalURL, withStatus: true)]),
        ])
    }

    /// The `POST /api/v2/alerts` body: an array of alerts (resolved ones carry `endsAt`).
    public static func alertmanagerAlerts(_ alerts: [(AlertRecord, AlertRule)], externalURL: String) -> JSONValue {
        var items: [JSONValue] = []
        for (alert, rule) in alerts {
            var object = alertObject(alert, rule: rule, externalURL: externalURL, withStatus: false).objectValue ?? [:]
            if alert.state != .resolved {
                // A firing alert without an end: Alertmanager applies its resolve_timeout, so
                // the notifier re-sends firing alerts periodically.
                object["endsAt"] = nil
            }
            items.append(.object(object))
        }
        return .array(items)
    }
}
