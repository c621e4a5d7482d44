public import EsperHTTP
import EsperJSON
import Foundation
import Leyline
public import Nissa

/// `/api/v1/nissa/*` and `/metrics/summary`: alerts (list, inspect, acknowledge), the
/// delivery log, the loaded rules, SLO state and fault drills. Everything is answered from
/// Nissa's memory; a drill ingests a handful of packets in memory, so it returns at once.
public enum NissaRoutes {
    public static let basePath = "/api/v1/nissa"

    struct AckRequest: Decodable {
        /// Who acknowledges (a user or system name).
        var by: String
    }

    struct SLOReport: Encodable {
        var slos: [String: SLOStatus]
        var objectiveTarget: Double
        var shortWindowS: Double
        var longWindowS: Double
        var fastBurnThreshold: Double
    }

    struct ActiveAlert: Encodable {
        var id: String
        var metric: String
        var value: Double
        var routes: [String]
        var source: String
        var severity: AlertSeverity
        var firedAt: LeylineTimestamp?
        var acknowledgedBy: String?
    }

    struct Summary: Encodable {
        var slo: [String: SLOStatus]
        var alerts: [String: ActiveAlert]
    }

    struct DrillReport: Encodable {
        var items: [DrillResult]
    }

    struct DeliveryPage: Encodable {
        var items: [DeliveryRecord]
    }

    struct RuleList: Encodable {
        var items: [AlertRule]
    }

    /// `?hold_s=`: how long the drill holds its alert firing (0-3600; default `NISSA_DRILL_HOLD_S`).
    static func drillHold(_ request: HTTPRequest) throws -> Double? {
        try BlueprintAPI.checkQuery(request, allowed: ["hold_s"])
        guard let text = request.query("hold_s") else { return nil }
        guard let value = Double(text), value.isFinite, (0...3600).contains(value) else {
            throw Problem.validation([JSONFieldProblem(field: "hold_s", message: "seconds between 0 and 3600")])
        }
        return value
    }

    public static func register(into routes: inout OperationHandlers, nissa: NissaService) {
        routes.on("listAlerts") { request in try listAlerts(request, nissa) }
        routes.on("getAlert") { request in
            let id = try alertId(request)
            guard let alert = nissa.alerts.alert(id: id) else { throw Problem.notFound("no alert \(id)") }
            return try .json(alert)
        }
        routes.on("acknowledgeAlert") { request in
            let id = try alertId(request)
            let body = try request.decodeJSON(AckRequest.self)
            let who = body.by.trimmingCharacters(in: .whitespaces)
            guard !who.isEmpty, body.by.unicodeScalars.count <= 128,
                !who.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
            else {
                throw Problem.validation([JSONFieldProblem(field: "by", message: "must be 1-128 characters without control characters")])
            }
            switch nissa.alerts.acknowledge(id: id, by: who) {
            case .acknowledged(let alert): return try .json(alert)
            case .notFound: throw Problem.notFound("no alert \(id)")
            case .conflict(let alert):
                throw Problem.conflict(
                    "alert \(id) was already acknowledged by \(alert.acknowledgedBy ?? "someone") at \(alert.acknowledgedAt?.rfc3339 ?? "?")"
                )
            }
        }
        routes.on("listAlertRules") { _ in try .json(RuleList(items: nissa.alerts.rules.rules)) }
        routes.on("listDeliveries") { request in
            let limit = try limitParameter(request)
            return try .json(DeliveryPage(items: nissa.notifier.deliveries(limit: limit)))
        }
        routes.on("getSLOs") { _ in
            let options = nissa.options
            return try .json(
                SLOReport(
                    slos: nissa.slo.snapshot(now: LeylineTimestamp.now().millisecondsSinceEpoch),
                    objectiveTarget: options.sloTarget, shortWindowS: options.sloShortWindowSeconds,
                    longWindowS: options.sloLongWindowSeconds, fastBurnThreshold: options.sloFastBurnThreshold))
        }
        routes.on("runAllDrills") { request in
            let hold = try drillHold(request)
            return try .json(DrillReport(items: nissa.runAllDrills(hold: hold)))
        }
        routes.on("listDrills") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let latest = nissa.drillBook.latest
            return try .json(DrillReport(items: nissa.alerts.rules.rules.compactMap { latest[$0.name] }))
        }
        routes.on("runDrill") { request in
            let name = request.pathParameter("name")
            let hold = try drillHold(request)
            switch nissa.startDrill(name, hold: hold) {
            case .ran(let result): return try .json(result)
            case .holding(let result):
                throw Problem.conflict(
                    "a drill of \(name) holds its alert firing until \(result.resolvesAt ?? "?"); run it again after that")
            case .noSuchRule:
                let known = nissa.alerts.rules.rules.map(\.name).joined(separator: ", ")
                throw Problem.notFound("no drill '\(name.prefix(64))'; drills exist for the loaded rules: \(known)")
            }
        }
        routes.on("getMetricsSummary") { _ in try .json(summary(nissa)) }
    }

    /// The runbook's `{"slo":{…},"alerts":{…}}`: every SLO, and the firing (non-drill) alerts
    /// keyed by rule — the most recent one when several sources fire the same rule.
    static func summary(_ nissa: NissaService) -> Summary {
        var alerts: [String: ActiveAlert] = [:]
        for alert in nissa.alerts.firing() where !alert.drill {
            alerts[alert.rule] = ActiveAlert(
                id: alert.id, metric: alert.metric, value: alert.value, routes: alert.routes,
                source: alert.source, severity: alert.severity, firedAt: alert.firedAt,
                acknowledgedBy: alert.acknowledgedBy)
        }
        return Summary(slo: nissa.slo.snapshot(now: LeylineTimestamp.now().millisecondsSinceEpoch), alerts: alerts)
    }

    static func limitParameter(_ request: HTTPRequest) throws(Problem) -> Int {
        var query = ListQuery()
        query.paginate(request)
        try query.check()
        return query.limit
    }

    static func listAlerts(_ request: HTTPRequest, _ nissa: NissaService) throws -> HTTPResponse {
        var query = ListQuery()
        let state = query.filter(request, "state", AlertState.self)
        let severity = query.filter(request, "severity", AlertSeverity.self)
        let rule = request.query("rule")
        if let rule, nissa.alerts.rules.rule(named: rule) == nil {
            query.problems.append(JSONFieldProblem(field: "rule", message: "no loaded rule is named '\(rule.prefix(64))'"))
        }
        query.paginate(request)
        try query.check()
        let (limit, cursor) = (query.limit, query.cursor)
        let page = nissa.alerts.list(state: state, severity: severity, rule: rule, limit: limit, after: cursor)
        return try .json(ListPage(items: page.items, nextCursor: page.next.map(ListCursor.encode)))
    }

    static func alertId(_ request: HTTPRequest) throws(Problem) -> String {
        let id = request.pathParameter("id")
        guard id.hasPrefix("alert-"), id.utf8.count <= 64,
            id.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 122) || $0 == 45 })
        else {
            throw Problem(
                status: 400, detail: "'\(id.prefix(64))' is not an alert id (alert-<n>-<hex>)",
                errors: [JSONFieldProblem(field: "id", message: "expected alert-<n>-<hex>")])
        }
        return id
    }
}
