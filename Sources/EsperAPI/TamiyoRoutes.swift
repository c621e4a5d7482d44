public import EsperHTTP
import EsperJSON
import EsperStorage
import Foundation
import Karn
import Leyline
public import Tamiyo
import TamiyoNetwork

/// `/api/v1/tamiyo`: conservative mode (the runbook's `set_conservative_mode`), the durable
/// field reports, the policy, and operators' approvals of approval-required blueprints.
/// Handlers read or flip in-memory state; nothing waits for training or the disk.
public enum TamiyoRoutes {
    struct ModeRequest: Decodable {
        var conservative: Bool
        var reason: String?
    }

    struct ApprovalRequest: Decodable {
        var blueprintId: String
        var reason: String?
    }

    struct ApprovalList: Encodable {
        var items: [BlueprintApproval]
    }

    /// One decision of the current network on a caller-given input (`POST
    /// /api/v1/tamiyo/policy/decide`): the fixed-input check that a new policy took effect.
    struct DecideRequest: Decodable {
        var features: [Float]
        var stageIndex: Int?
        var blueprintIndex: Int?
        /// Legal actions by name (default: every action).
        var validActions: [String]?

        enum CodingKeys: String, CodingKey {
            case features, stageIndex = "stage_index", blueprintIndex = "blueprint_index", validActions = "valid_actions"
        }
    }

    struct DecideResponse: Encodable {
        var action: String
        var logits: [Float]
        var param: Float
        var policyVersion: String
    }

    struct RollbackResponse: Encodable {
        var version: String
        var weightsSha256: String
    }

    public static func register(into routes: inout OperationHandlers, tamiyo: TamiyoService) {
        routes.on("getTamiyoMode") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(tamiyo.mode.current)
        }
        routes.on("setTamiyoMode") { request in
            let body = try request.decodeJSON(ModeRequest.self)
            let reason = body.reason ?? ""
            guard reason.unicodeScalars.count <= 200, !reason.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw Problem.validation([JSONFieldProblem(field: "reason", message: "at most 200 characters, no control characters")])
            }
            return try .json(tamiyo.mode.set(body.conservative, reason: reason.isEmpty ? "operator" : reason))
        }
        routes.on("listFieldReports") { request in
            try BlueprintAPI.checkQuery(request, allowed: ["run", "outcome", "since", "trajectory", "limit", "cursor"])
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
            // The decisions (Simic's data, up to 256 steps of 32 features) only when asked for.
            var withTrajectory = false
            if let text = request.query("trajectory") {
                if text == "true" || text == "false" {
                    withTrajectory = text == "true"
                } else {
                    query.problems.append(JSONFieldProblem(field: "trajectory", message: "true or false"))
                }
            }
            query.paginate(request)
            try query.check()
            var page = tamiyo.fieldReports.query(
                run: run, outcome: outcome, since: since, after: Int(query.cursor ?? 0),
                limit: query.limit)
            if !withTrajectory {
                page.items = page.items.map { report in
                    var r = report; r.trajectory = []; return r
                }
            }
            return try .json(ListPage(items: page.items, nextCursor: page.next.map { ListCursor.encode(Int64($0)) }))
        }
        routes.on("getTamiyoPolicy") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(tamiyo.policyInfo)
        }
        // The weights in force, for remote workers' policy jobs: TamiyoNetwork's checksummed
        // encoding, its SHA-256 in `X-Esper-SHA256` (checked by the worker) as for artifacts.
        routes.on("getTamiyoPolicyWeights") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let weights = tamiyo.currentWeights
            let bytes = weights.encoded()
            let sha = Checksum.sha256Hex(bytes)
            return HTTPResponse(
                status: 200,
                headers: [
                    ("Content-Type", "application/octet-stream"), ("X-Esper-SHA256", sha),
                    ("X-Esper-Policy-Version", weights.policyVersion), ("ETag", "\"\(sha)\""),
                ], body: bytes)
        }
        routes.on("rollbackTamiyoPolicy") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            do {
                let weights = try tamiyo.rollback()
                return try .json(RollbackResponse(version: weights.policyVersion, weightsSha256: weights.sha256))
            } catch let error as TamiyoService.RollbackError {
                throw Problem.conflict(error.description)
            } catch {
                throw Problem(status: 500, detail: "cannot roll back: \(error)")
            }
        }
        routes.on("decideTamiyoPolicy") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let body = try request.decodeJSON(DecideRequest.self)
            let config = tamiyo.currentWeights.config
            var problems: [JSONFieldProblem] = []
            if body.features.count != config.featureDim {
                problems.append(JSONFieldProblem(field: "features", message: "expected \(config.featureDim) numbers"))
            }
            for (i, value) in body.features.enumerated() where !value.isFinite {
                problems.append(JSONFieldProblem(field: "features[\(i)]", message: "must be finite"))
            }
            let stage = body.stageIndex ?? 0, blueprint = body.blueprintIndex ?? 0
            if !(0..<config.stageVocab).contains(stage) {
                problems.append(JSONFieldProblem(field: "stage_index", message: "in 0…\(config.stageVocab - 1)"))
            }
            if !(0..<config.blueprintVocab).contains(blueprint) {
                problems.append(JSONFieldProblem(field: "blueprint_index", message: "in 0…\(config.blueprintVocab - 1)"))
            }
            var mask: UInt32 = 0
            for (i, name) in (body.validActions ?? PolicyAction.allCases.map(\.name)).enumerated() {
                if let action = PolicyAction.allCases.first(where: { $0.name == name }) {
                    mask |= 1 << UInt32(action.rawValue)
                } else {
                    problems.append(
                        JSONFieldProblem(
                            field: "valid_actions[\(i)]", message: "one of \(PolicyAction.allCases.map(\.name).joined(separator: ", "))"))
                }
            }
            if mask == 0 && problems.isEmpty { problems.append(JSONFieldProblem(field: "valid_actions", message: "at least one action")) }
            guard problems.isEmpty else { throw Problem.validation(problems) }
            let input = PolicyInput(features: body.features, stageIndex: stage, blueprintIndex: blueprint, slots: [], blueprints: [])
            let out = tamiyo.decide(input, validActions: mask)
            return try .json(DecideResponse(action: out.action.name, logits: out.logits, param: out.param, policyVersion: out.version))
        }
        // Approval-required blueprints held by the risk engine proceed once approved here.
        routes.on("listBlueprintApprovals") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            return try .json(ApprovalList(items: tamiyo.approvals.all))
        }
        routes.on("approveBlueprint") { request in
            let body = try request.decodeJSON(ApprovalRequest.self)
            var problems: [JSONFieldProblem] = []
            if !BlueprintID.isValid(body.blueprintId) {
                problems.append(JSONFieldProblem(field: "blueprint_id", message: "BP followed by three digits, e.g. BP036"))
            }
            let reason = body.reason ?? ""
            if reason.unicodeScalars.count > 200 || reason.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                problems.append(JSONFieldProblem(field: "reason", message: "at most 200 characters, no control characters"))
            }
            guard problems.isEmpty else { throw Problem.validation(problems) }
            let result: (approval: BlueprintApproval, created: Bool)
            do throws(ApprovalError) {
                result = try tamiyo.approvals.approve(body.blueprintId, reason: reason.isEmpty ? "operator" : reason)
            } catch {
                throw approvalProblem(error, body.blueprintId)
            }
            return try .json(result.approval, status: result.created ? 201 : 200)
        }
        routes.on("revokeBlueprintApproval") { request in
            let id = request.pathParameter("blueprint_id")
            guard BlueprintID.isValid(id) else {
                throw Problem(
                    status: 400, detail: "'\(id.prefix(64))' is not a blueprint id",
                    errors: [JSONFieldProblem(field: "blueprint_id", message: "BP followed by three digits, e.g. BP036")])
            }
            let revoked: Bool
            do throws(ApprovalError) {
                revoked = try tamiyo.approvals.revoke(id)
            } catch {
                throw approvalProblem(error, id)
            }
            guard revoked else { throw Problem.notFound("\(id) is not approved") }
            return HTTPResponse(status: 204)
        }
    }

    static func approvalProblem(_ error: ApprovalError, _ id: String) -> Problem {
        switch error {
        case .unknownBlueprint:
            return Problem.validation([JSONFieldProblem(field: "blueprint_id", message: "no blueprint \(id) in the catalog")])
        case .notRequired:
            return Problem.validation([JSONFieldProblem(field: "blueprint_id", message: "\(id) does not require an approval")])
        case .storage(let reason):
            return Problem(status: 503, detail: "the approval could not be stored: \(reason)")
        }
    }
}
