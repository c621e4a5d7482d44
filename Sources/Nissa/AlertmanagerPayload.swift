public import EsperJSON
import Leyline

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

    /// Alertmanager's fingerprint is a 64-bit hash of the label set, in 16 hex digits
    /// (FNV-1a over the sorted pairs here).
    public static func fingerprint(_ labels: [String: String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (name, value) in labels.sorted(by: { $0.key < $1.key }) {
            for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0xff) &* 0x0000_0100_0000_01b3
            for byte in value.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            hash = (hash ^ 0xfe) &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
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
        let groupKey = "{}:{alertname=\"\(alert.rule)\",source=\"\(alert.source)\"}"
        return .object([
            "version": "4",
            "groupKey": .string(groupKey),
            "truncatedAlerts": .int(0),
            "status": .string(alert.state == .resolved ? "resolved" : "firing"),
            "receiver": .string(receiver),
            "groupLabels": object(["alertname": alert.rule, "source": alert.source]),
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
