import EsperHTTP
import EsperJSON
import Foundation
import Karn

import enum Leyline.BlueprintTier

/// Input checks the blueprint routes share: ids (which reach file paths, so a malformed one is
/// rejected before anything is looked up), query parameters, and list pagination.
enum BlueprintAPI {
    /// 64 lower-case hex digits: an artifact's SHA-256.
    static func isArtifactHash(_ id: String) -> Bool {
        id.utf8.count == 64 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    static func blueprintId(_ request: HTTPRequest) throws(Problem) -> String {
        let id = request.pathParameter("id")
        guard BlueprintID.isValid(id) else {
            throw Problem(
                status: 400, type: "/problems/invalid-id",
                detail: "'\(id)' is not a blueprint id (BP followed by three digits, e.g. BP001)")
        }
        return id
    }

    /// The `{id}` of an Urza route: a blueprint id (BP001) or a host-shaped artifact id
    /// (`BP052-i64-o10`: a template compiled at one host shape).
    static func urzaId(_ request: HTTPRequest) throws(Problem) -> String {
        let id = request.pathParameter("id")
        guard BlueprintID.isValid(id) || HostShape.parse(artifactId: id) != nil else {
            throw Problem(
                status: 400, type: "/problems/invalid-id",
                detail: "'\(id)' is neither a blueprint id (BP001) nor a host-shaped artifact id (BP052-i64-o10)")
        }
        return id
    }

    /// Rejects query parameters the route does not know (a typo is reported, not ignored).
    static func checkQuery(_ request: HTTPRequest, allowed: Set<String>) throws(Problem) {
        let unknown = Set(request.queryItems.map(\.name)).subtracting(allowed).sorted()
        guard unknown.isEmpty else {
            throw Problem(
                status: 400, type: "/problems/unknown-query-parameter",
                detail:
                    "unknown query parameter\(unknown.count == 1 ? "" : "s") \(unknown.joined(separator: ", ")); allowed: \(allowed.sorted().joined(separator: ", "))",
                errors: unknown.map { JSONFieldProblem(field: $0, message: "unknown query parameter") })
        }
    }

    /// `tier` as BLUEPRINT_TIER_SAFE, SAFE or safe (422 otherwise).
    static func tier(_ request: HTTPRequest) throws(Problem) -> BlueprintTier? {
        guard let text = request.query("tier") else { return nil }
        guard let tier = BlueprintTier.parse(text), tier != .unspecified, Int(text) == nil else {
            throw Problem.validation([
                JSONFieldProblem(
                    field: "tier", message: "'\(text)' is not a tier: use SAFE, EXPERIMENTAL or HIGH_RISK (or BLUEPRINT_TIER_...)")
            ])
        }
        return tier
    }

    static func stage(_ request: HTTPRequest) throws(Problem) -> Int? {
        guard let text = request.query("stage") else { return nil }
        guard let stage = Int(text), (0...6).contains(stage) else {
            throw Problem.validation([JSONFieldProblem(field: "stage", message: "'\(text)' is not a curriculum stage 0-6")])
        }
        return stage
    }

    static func boolean(_ request: HTTPRequest, _ name: String) throws(Problem) -> Bool? {
        guard let text = request.query(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw Problem.validation([JSONFieldProblem(field: name, message: "'\(text)' is not a boolean (true or false)")])
        }
    }

    /// `limit` as `ListQuery` reads it, but refused with a 422 (as these routes always have).
    static func limit(_ request: HTTPRequest) throws(Problem) -> Int {
        guard let text = request.query("limit") else { return ListQuery.defaultLimit }
        guard let limit = ListQuery.limit(text) else {
            throw Problem.validation([JSONFieldProblem(field: "limit", message: "'\(text)' is not an integer in 1...500")])
        }
        return limit
    }

    /// A `ListCursor` holding the last blueprint id shown; anything else is a 400.
    static func cursor(_ request: HTTPRequest) throws(Problem) -> String? {
        guard let text = request.query("cursor") else { return nil }
        // Urza's listing also holds host-shaped artifacts (`BP052-i40-o10`).
        guard let id = ListCursor.decode(text), BlueprintID.isValid(id) || HostShape.parse(artifactId: id) != nil else {
            throw Problem(
                status: 400, type: "/problems/invalid-cursor", detail: "the cursor is not one this server issued",
                errors: [JSONFieldProblem(field: "cursor", message: "malformed")])
        }
        return id
    }

    /// A page of `items` (already filtered and ordered by id, with one extra to detect more).
    static func page<Item: Encodable>(_ items: [Item], limit: Int, id: (Item) -> String) -> ListPage<Item> {
        let shown = Array(items.prefix(limit))
        let next = items.count > limit ? shown.last.map { ListCursor.encode(id($0)) } : nil
        return ListPage(items: shown, nextCursor: next)
    }

    static func notFound(_ what: String) -> Problem { Problem(status: 404, type: "/problems/not-found", detail: what) }
}

extension Problem {
    /// 422 for a list of parameter problems, each field named `parameters.<name>`.
    static func parameters(_ problems: [ParameterProblem], blueprintId: String) -> Problem {
        var problem = Problem.validation(
            problems.map {
                JSONFieldProblem(field: "parameters.\($0.parameter)", message: "\($0.message) [\($0.reason.rawValue)]")
            })
        problem.detail = "invalid parameters for \(blueprintId): " + problems.map(\.description).joined(separator: "; ")
        return problem
    }

    static func approvalRequired(_ id: String, _ tier: BlueprintTier) -> Problem {
        Problem(
            status: 403, type: "/problems/approval-required",
            detail:
                "\(id) is \(tier.enumName): resend with \"approved\": true to use it (05: experimental and high-risk templates need an explicit approval)"
        )
    }
}
