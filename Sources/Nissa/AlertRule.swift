import EsperJSON
import Foundation

/// How a rule compares a value with its threshold. Only these four exist; a rules file with
/// any other is refused at load (the reference silently read unknown comparators as `>`).
public enum AlertComparator: String, Sendable, Codable, CaseIterable {
    case greater = ">"
    case greaterOrEqual = ">="
    case less = "<"
    case lessOrEqual = "<="

    public func breaches(_ value: Double, _ threshold: Double) -> Bool {
        switch self {
        case .greater: value > threshold
        case .greaterOrEqual: value >= threshold
        case .less: value < threshold
        case .lessOrEqual: value <= threshold
        }
    }

    /// The value of several (one packet may carry a metric per stream) that is judged: the
    /// worst one in the rule's direction.
    public func worst(_ values: [Double]) -> Double? {
        switch self {
        case .greater, .greaterOrEqual: values.max()
        case .less, .lessOrEqual: values.min()
        }
    }
}

public enum AlertSeverity: String, Sendable, Codable, CaseIterable {
    case critical, warning, info
}

/// What a rule compares: the metric's value, or its increase over a window (for cumulative
/// counters such as `kasmina.isolation.violations`).
public enum AlertMode: String, Sendable, Codable, CaseIterable {
    case value
    case increase
}

/// One alert rule, as data (`infra/nissa/alert_rules.json`).
public struct AlertRule: Sendable, Codable, Equatable {
    public var name: String
    public var metric: String
    public var comparator: AlertComparator
    public var threshold: Double
    /// Consecutive breaching samples (from one source) before the alert fires.
    public var forCount: Int
    /// Also require the breach to have lasted this long (design: "for 2 min"); nil: count only.
    public var forDurationSeconds: Double?
    public var mode: AlertMode
    /// The window of `increase` rules.
    public var windowSeconds: Double?
    public var severity: AlertSeverity
    /// Receivers: `slack`, `pagerduty`, `email`.
    public var routes: [String]
    public var summary: String
    public var runbook: String?

    // The rules file's spelling.
    enum CodingKeys: String, CodingKey {
        case name, metric, comparator, threshold, forCount = "for_count", forDurationSeconds = "for_duration_s", mode
        case windowSeconds = "window_s", severity, routes, summary, runbook
    }

    public init(
        name: String, metric: String, comparator: AlertComparator, threshold: Double, forCount: Int,
        forDurationSeconds: Double? = nil, mode: AlertMode = .value, windowSeconds: Double? = nil,
        severity: AlertSeverity, routes: [String], summary: String, runbook: String? = nil
    ) {
        self.name = name
        self.metric = metric
        self.comparator = comparator
        self.threshold = threshold
        self.forCount = forCount
        self.forDurationSeconds = forDurationSeconds
        self.mode = mode
        self.windowSeconds = windowSeconds
        self.severity = severity
        self.routes = routes
        self.summary = summary
        self.runbook = runbook
    }
}

/// A rules file that cannot be used; `problems` name each field (`rules[2].comparator: …`).
public struct AlertRulesError: Error, CustomStringConvertible, Equatable {
    public let problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}

/// The rules Nissa evaluates, loaded and validated as a whole at start.
public struct AlertRuleSet: Sendable, Equatable {
    public let rules: [AlertRule]

    public static let receiverNames: Set<String> = ["slack", "pagerduty", "email"]

    public init(rules: [AlertRule]) { self.rules = rules }

    public func rule(named name: String) -> AlertRule? { rules.first { $0.name == name } }

    /// The four rules of the spec, with its "beyond the reference" fixes: the latency rule
    /// reads the epoch-boundary hook, the isolation rule the increase over 5 minutes (≥ 3).
    /// `infra/nissa/alert_rules.json` holds the same rules (a test keeps them equal).
    public static let builtInJSON = #"""
        {
          "version": 1,
          "rules": [
            {"name": "training_latency_high", "metric": "tolaria.epoch_hook.latency_ms", "comparator": ">", "threshold": 18.0,
             "for_count": 3, "severity": "critical", "routes": ["pagerduty", "slack"],
             "summary": "Epoch-boundary hook latency above 18 ms for 3 consecutive epochs",
             "runbook": "Pause training through Tamiyo conservative mode; inspect device utilisation."},
            {"name": "kasmina_isolation_violation", "metric": "kasmina.isolation.violations", "mode": "increase", "window_s": 300,
             "comparator": ">=", "threshold": 3.0, "for_count": 1, "severity": "critical", "routes": ["pagerduty"],
             "summary": "At least 3 seed isolation violations within 5 minutes",
             "runbook": "Cull the seed (SEED_OP_CULL); check kernel fetch latency; telemetry must return to 0."},
            {"name": "oona_queue_depth", "metric": "oona.queue.depth", "comparator": ">", "threshold": 4000.0,
             "for_count": 2, "severity": "warning", "routes": ["slack"],
             "summary": "Oona stream backlog (pending + not yet delivered) above 4000 for 2 consecutive samples",
             "runbook": "Read reroute/drop counters; switch the bus to conservative mode (PUT /api/v1/oona/mode); add consumers."},
            {"name": "oona_publish_dropped", "metric": "oona.publish.dropped", "comparator": ">", "threshold": 0.0,
             "for_count": 1, "severity": "critical", "routes": ["slack"],
             "summary": "Oona dropped publishes: a stream's backlog reached its drop threshold",
             "runbook": "Read publishers' counters (GET /api/v1/oona/metrics); find the stalled consumer group (GET /api/v1/oona/streams)."},
            {"name": "tezzeret_compile_retry_high", "metric": "tezzeret.compile.retry_count", "comparator": ">", "threshold": 1.0,
             "for_count": 1, "severity": "info", "routes": ["email"],
             "summary": "Tezzeret compile retries above 1",
             "runbook": "Rerun the forge (resumes from its WAL); read compiler logs; raise max_retries temporarily."},
            {"name": "nissa_notifications_dead_lettered", "metric": "nissa.notifications.dead_lettered", "comparator": ">", "threshold": 0.0,
             "for_count": 1, "severity": "critical", "routes": ["pagerduty", "slack"],
             "summary": "Undelivered alert notifications exceeded NISSA_PARKED_MAX and were dead-lettered to disk",
             "runbook": "Fix the receivers (GET /api/v1/nissa/deliveries); read <data>/nissa/dead-letters.log and resend by hand."}
          ]
        }
        """#

    public static let builtIn: AlertRuleSet = {
        // The constant is checked by a test; it cannot fail at run time.
        (try? AlertRuleSet.parse(Array(builtInJSON.utf8))) ?? AlertRuleSet(rules: [])
    }()

    public static func load(path: String) throws(AlertRulesError) -> AlertRuleSet {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AlertRulesError(problems: ["\(path): cannot be read"])
        }
        do {
            return try parse(Array(data))
        } catch {
            throw AlertRulesError(problems: error.problems.map { "\(path): \($0)" })
        }
    }

    /// Parses and validates every rule; all problems are reported at once.
    public static func parse(_ bytes: [UInt8]) throws(AlertRulesError) -> AlertRuleSet {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw AlertRulesError(problems: ["not valid JSON: \(error)"])
        }
        guard let top = document.objectValue else { throw AlertRulesError(problems: ["the document must be a JSON object"]) }
        var problems: [String] = []
        for key in top.keys where key != "version" && key != "rules" { problems.append("\(key): unknown field") }
        if let version = top["version"], version.intValue != 1 { problems.append("version: must be 1") }
        guard let items = top["rules"]?.arrayValue else {
            throw AlertRulesError(problems: problems + ["rules: required, an array of rule objects"])
        }
        var rules: [AlertRule] = []
        var names = Set<String>()
        for (index, item) in items.enumerated() {
            let path = "rules[\(index)]"
            guard let object = item.objectValue else {
                problems.append("\(path): must be an object")
                continue
            }
            if let rule = parseRule(object, path: path, problems: &problems) {
                if !names.insert(rule.name).inserted { problems.append("\(path).name: '\(rule.name)' is used twice") }
                rules.append(rule)
            }
        }
        guard problems.isEmpty else { throw AlertRulesError(problems: problems) }
        return AlertRuleSet(rules: rules)
    }

    static let knownFields: Set<String> = [
        "name", "metric", "comparator", "threshold", "for_count", "for_duration_s", "mode",
        "window_s", "severity", "routes", "summary", "runbook",
    ]

    private static func parseRule(_ object: [String: JSONValue], path: String, problems: inout [String]) -> AlertRule? {
        let before = problems.count
        for key in object.keys.sorted() where !knownFields.contains(key) { problems.append("\(path).\(key): unknown field") }
        func string(_ key: String, required: Bool = true) -> String? {
            guard let value = object[key] else {
                if required { problems.append("\(path).\(key): required") }
                return nil
            }
            guard let text = value.stringValue, !text.isEmpty else {
                problems.append("\(path).\(key): must be a non-empty string")
                return nil
            }
            return text
        }
        func number(_ key: String, required: Bool = true) -> Double? {
            guard let value = object[key] else {
                if required { problems.append("\(path).\(key): required") }
                return nil
            }
            guard let number = value.doubleValue, number.isFinite else {
                problems.append("\(path).\(key): must be a finite number")
                return nil
            }
            return number
        }
        let name = string("name")
        if let name, name.utf8.count > 64 || !name.allSatisfy({ ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "_" }) {
            problems.append("\(path).name: '\(name)' must be 1-64 characters of a-z, 0-9 and _")
        }
        let metric = string("metric")
        if let metric, metric.utf8.count > 128 || metric.contains(where: { $0.isWhitespace }) {
            problems.append("\(path).metric: '\(metric)' must be at most 128 characters without spaces")
        }
        var comparator: AlertComparator?
        if let text = string("comparator") {
            comparator = AlertComparator(rawValue: text)
            if comparator == nil {
                problems.append("\(path).comparator: '\(text)' is not one of >, >=, <, <=")
            }
        }
        let threshold = number("threshold")
        var forCount = 1
        if let count = number("for_count", required: false) {
            if count != count.rounded() || count < 1 || count > 10_000 {
                problems.append("\(path).for_count: must be an integer in 1...10000")
            } else {
                forCount = Int(count)
            }
        }
        let forDuration = number("for_duration_s", required: false)
        if let forDuration, forDuration < 0 || forDuration > 86_400 {
            problems.append("\(path).for_duration_s: must be in 0...86400")
        }
        var mode = AlertMode.value
        if let text = string("mode", required: false) {
            if let parsed = AlertMode(rawValue: text) {
                mode = parsed
            } else {
                problems.append("\(path).mode: '\(text)' is not value or increase")
            }
        }
        let window = number("window_s", required: false)
        if mode == .increase && window == nil { problems.append("\(path).window_s: required when mode is increase") }
        if let window, window <= 0 || window > 86_400 { problems.append("\(path).window_s: must be in (0, 86400]") }
        if mode == .value && window != nil { problems.append("\(path).window_s: only allowed when mode is increase") }
        var severity: AlertSeverity?
        if let text = string("severity") {
            severity = AlertSeverity(rawValue: text)
            if severity == nil { problems.append("\(path).severity: '\(text)' is not one of critical, warning, info") }
        }
        var routes: [String] = []
        if let value = object["routes"] {
            if let items = value.arrayValue, !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }) {
                routes = items.compactMap(\.stringValue)
                for route in routes where !receiverNames.contains(route) {
                    problems.append("\(path).routes: '\(route)' is not one of email, pagerduty, slack")
                }
                if Set(routes).count != routes.count { problems.append("\(path).routes: a receiver is listed twice") }
            } else {
                problems.append("\(path).routes: must be a non-empty array of receiver names")
            }
        } else {
            problems.append("\(path).routes: required")
        }
        let summary = string("summary", required: false)
        let runbook = string("runbook", required: false)
        guard problems.count == before, let name, let metric, let comparator, let threshold, let severity else { return nil }
        return AlertRule(
            name: name, metric: metric, comparator: comparator, threshold: threshold, forCount: forCount,
            forDurationSeconds: forDuration, mode: mode, windowSeconds: window, severity: severity, routes: routes,
            summary: summary ?? "\(metric) \(comparator.rawValue) \(threshold)", runbook: runbook)
    }
}
