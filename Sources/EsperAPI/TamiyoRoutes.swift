public import EsperHTTP
import EsperJSON
import Foundation
import Leyline
public import Tamiyo

/// `/api/v1/tamiyo`: conservative mode (the runbook's `set_conservative_mode`), the durable
/// field reports, and the policy. Handlers read or flip in-memory state; nothing waits for
/// training or the disk.
public enum TamiyoRoutes {
    struct ModeRequest: Decodable {
        var conservative: Bool
        var reason: String?
    }

    public static func register(into router: inout Router, tamiyo: TamiyoService) {
        router.get("/api/v1/tamiyo/mode") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(tamiyo.mode.current)
        }
        router.put("/api/v1/tamiyo/mode") { request in
            let body = try request.decodeJSON(ModeRequest.self)
            let reason = body.reason ?? ""
            guard reason.count <= 200, !reason.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw Problem.validation([JSONFieldProblem(field: "reason", message: "at most 200 characters, no control characters")])
            }
            return try .json(tamiyo.mode.set(body.conservative, reason: reason.isEmpty ? "operator" : reason))
        }
        router.get("/api/v1/tamiyo/field-reports") { request in
            try BlueprintAPI.checkQuery(request, allowed: ["run", "outcome", "since", "limit", "cursor"])
            var query = ListQuery()
            let run = request.query("run")
            if let run, UUID(uuidString: run) == nil || run != run.lowercased() {
                query.problems.append(JSONFieldProblem(field: "run", message: "expected a run id (a lower-case UUID)"))
            }
            var outcome: FieldReportOutcome?
            if let text = request.query("outcome") {
                outcome =
                    FieldReportOutcome(name: text.uppercased()) ?? FieldReportOutcome(name: "FIELD_REPORT_OUTCOME_" + text.uppercased())
                if outcome == nil {
                    query.problems.append(
                        JSONFieldProblem(field: "outcome", message: "one of SUCCESS, NEUTRAL, REGRESSION, ABORTED, UNSPECIFIED"))
                }
            }
            var since: LeylineTimestamp?
            if let text = request.query("since") {
                do { since = try LeylineTimestamp(rfc3339: text) } catch {
                    query.problems.append(JSONFieldProblem(field: "since", message: "expected an RFC 3339 time: \(error)"))
                }
            }
            query.paginate(request)
            try query.check()
            let page = tamiyo.fieldReports.query(
                run: run, outcome: outcome, since: since, after: Int(query.cursor ?? 0),
                limit: query.limit)
            return try .json(ListPage(items: page.items, nextCursor: page.next.map { RunCursor.encode(Int64($0)) }))
        }
        router.get("/api/v1/tamiyo/policy") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(tamiyo.policyInfo)
        }
    }
}
