public import EsperHTTP
import EsperJSON
import Foundation
import Leyline
public import Tamiyo

/// `/api/v1/tamiyo`: conservative mode (the runbook's `set_conservative_mode`), the durable
/// field reports, and the policy. Handlers read or flip in-memory state; nothing waits for
/// training or the disk.
public enum TamiyoRoutes {
    static let defaultLimit = 50
    static let maxLimit = 500

    struct ModeRequest: Decodable {
        var conservative: Bool
        var reason: String?
    }

    struct FieldReportPage: Encodable {
        var items: [FieldReport]
        var nextCursor: String?
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
            var problems: [JSONFieldProblem] = []
            let run = request.query("run")
            if let run, UUID(uuidString: run) == nil || run != run.lowercased() {
                problems.append(JSONFieldProblem(field: "run", message: "expected a run id (a lower-case UUID)"))
            }
            var outcome: FieldReportOutcome?
            if let text = request.query("outcome") {
                outcome = FieldReportOutcome(name: text.uppercased()) ?? FieldReportOutcome(name: "FIELD_REPORT_OUTCOME_" + text.uppercased())
                if outcome == nil {
                    problems.append(JSONFieldProblem(field: "outcome", message: "one of SUCCESS, NEUTRAL, REGRESSION, ABORTED, UNSPECIFIED"))
                }
            }
            var since: LeylineTimestamp?
            if let text = request.query("since") {
                do { since = try LeylineTimestamp(rfc3339: text) } catch {
                    problems.append(JSONFieldProblem(field: "since", message: "expected an RFC 3339 time: \(error)"))
                }
            }
            var limit = defaultLimit
            if let text = request.query("limit") {
                if let value = Int(text), (1...maxLimit).contains(value) { limit = value } else {
                    problems.append(JSONFieldProblem(field: "limit", message: "must be an integer in 1…\(maxLimit)"))
                }
            }
            var after = 0
            if let text = request.query("cursor") {
                if let position = ReportCursor.decode(text) { after = position } else {
                    problems.append(JSONFieldProblem(field: "cursor", message: "is not a cursor this server issued"))
                }
            }
            guard problems.isEmpty else { throw Problem.validation(problems) }
            let page = tamiyo.fieldReports.query(run: run, outcome: outcome, since: since, after: after, limit: limit)
            return try .json(FieldReportPage(items: page.items, nextCursor: page.next.map(ReportCursor.encode)))
        }
        router.get("/api/v1/tamiyo/policy") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(tamiyo.policyInfo)
        }
    }
}

/// Field-report list cursors: opaque to clients, `r1.<position>` in base64url inside.
enum ReportCursor {
    static func encode(_ position: Int) -> String {
        Data("r1.\(position)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: String) -> Int? {
        guard text.utf8.count <= 64 else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8), plain.hasPrefix("r1."),
              let position = Int(plain.dropFirst(3)), position >= 0 else { return nil }
        return position
    }
}
