import Foundation
import Nissa

extension Configuration {
    /// The `NISSA_*` variables: rules file, ring-buffer sizes, receivers, delivery retries,
    /// SLO target and windows. Each is checked here so a bad value stops the server at start
    /// with the variable's name.
    mutating func applyNissa(_ values: [String: String], workingDirectory: String) throws(ConfigurationError) {
        let read = ConfigurationValues(values: values)
        func number(_ name: String, _ range: ClosedRange<Double>) throws(ConfigurationError) -> Double? { try read.number(name, range) }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? { try read.integer(name, range) }
        func url(_ name: String) throws(ConfigurationError) -> String? { try read.url(name) }

        if let path = values["NISSA_RULES_FILE"] {
            let absolute = Configuration.absolute(path, relativeTo: workingDirectory)
            do {
                nissa.rules = try AlertRuleSet.load(path: absolute)
            } catch {
                throw ConfigurationError(variable: "NISSA_RULES_FILE", message: error.description)
            }
            nissaRulesFile = absolute
        } else {
            let bundled = workingDirectory + "/infra/nissa/alert_rules.json"
            if FileManager.default.isReadableFile(atPath: bundled) {
                do {
                    nissa.rules = try AlertRuleSet.load(path: bundled)
                } catch {
                    throw ConfigurationError(variable: "NISSA_RULES_FILE", message: error.description)
                }
                nissaRulesFile = bundled
            }
        }
        if let value = try number("NISSA_SERIES_SPAN_S", 1...(30 * 86_400)) { nissa.seriesSpanSeconds = value }
        if let value = try integer("NISSA_SERIES_MAX_POINTS", 2...1_000_000) { nissa.seriesMaxPoints = value }
        if let value = try integer("NISSA_MAX_SERIES", 1...1_000_000) { nissa.maxSeries = value }
        if let value = try integer("NISSA_ALERT_HISTORY", 1...1_000_000) { nissa.alertHistory = value }
        for receiver in ["slack", "pagerduty", "email"] {
            if let target = try url("NISSA_\(receiver.uppercased())_WEBHOOK_URL") { nissa.receivers[receiver] = target }
        }
        if var target = try url("NISSA_ALERTMANAGER_URL") {
            while target.hasSuffix("/") { target.removeLast() }
            nissa.alertmanagerURL = target
        }
        if let value = try number("NISSA_ALERTMANAGER_RESEND_S", 1...86_400) { nissa.alertmanagerResendSeconds = value }
        // Unset: at least one Alertmanager resend, so Alertmanager lists every drill alert.
        nissa.drillHoldSeconds = min(3600, max(60, nissa.alertmanagerResendSeconds))
        if let value = try number("NISSA_DRILL_HOLD_S", 0...3600) { nissa.drillHoldSeconds = value }
        if var target = try url("NISSA_EXTERNAL_URL") {
            while target.hasSuffix("/") { target.removeLast() }
            nissa.externalURL = target
        } else {
            let host = http.host.contains(":") ? "[\(http.host)]" : http.host
            nissa.externalURL = "http://\(host):\(http.port)"
        }
        if let value = try integer("NISSA_WEBHOOK_TIMEOUT_MS", 10...120_000) { nissa.webhookTimeoutMilliseconds = value }
        if let value = try integer("NISSA_WEBHOOK_MAX_ATTEMPTS", 1...100) { nissa.webhookMaxAttempts = value }
        if let value = try integer("NISSA_WEBHOOK_BACKOFF_MS", 1...600_000) { nissa.webhookBackoffMilliseconds = value }
        if let value = try number("NISSA_WEBHOOK_PARKED_RETRY_S", 0.01...86_400) { nissa.webhookParkedRetrySeconds = value }
        if let value = try number("NISSA_SLO_TARGET", 0.5...0.999999) { nissa.sloTarget = value }
        if let value = try number("NISSA_SLO_WINDOW_S", 60...(400 * 86_400)) { nissa.sloLongWindowSeconds = value }
        if let value = try number("NISSA_SLO_SHORT_WINDOW_S", 1...(400 * 86_400)) { nissa.sloShortWindowSeconds = value }
        guard nissa.sloShortWindowSeconds < nissa.sloLongWindowSeconds else {
            throw ConfigurationError(
                variable: "NISSA_SLO_SHORT_WINDOW_S", message: "must be shorter than NISSA_SLO_WINDOW_S (\(nissa.sloLongWindowSeconds) s)")
        }
        if let value = try number("NISSA_SLO_FAST_BURN", 0.001...1_000_000) { nissa.sloFastBurnThreshold = value }
        if let value = try integer("NISSA_PARKED_MAX", 1...1_000_000) { nissa.parkedMax = value }
        if let value = try number("NISSA_RETENTION_DAYS", 0.01...3650) { nissa.retentionDays = value }
        if let value = try number("NISSA_FINISHED_RUN_RETENTION_S", 0...(30 * 86_400)) { nissa.finishedRunRetentionSeconds = value }
    }
}
