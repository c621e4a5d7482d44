public import EsperHTTP
import EsperJSON
public import Karn

import enum Leyline.BlueprintTier

/// `/api/v1/karn`: the template catalog, selection and parameter validation.
public enum KarnRoutes {
    struct SelectRequest: Decodable {
        var tier: String?
        var context: String?
        var allowAdversarial: Bool?
        var conservative: Bool?
        var approved: Bool?
        init() {}
    }

    struct SelectResponse: Encodable {
        var blueprintId: String
        var template: BlueprintTemplate
        var candidateCount: Int
        var index: Int
        var contextHashPrefix: UInt32?
        var conservativePool: Bool
        var breakerState: String
    }

    struct ValidateRequest: Decodable {
        var parameters: [String: Double]
        var approved: Bool?
    }

    struct ValidateResponse: Encodable {
        var blueprintId: String
        var requested: [String: Double]
        var effective: [String: Double]
        var approvalRequired: Bool
        var quarantineOnly: Bool
    }

    public static func register(into routes: inout OperationHandlers, karn: KarnService) {
        routes.on("listKarnTemplates") { request in
            try BlueprintAPI.checkQuery(request, allowed: ["tier", "stage", "limit", "cursor"])
            let tier = try BlueprintAPI.tier(request)
            let stage = try BlueprintAPI.stage(request)
            let limit = try BlueprintAPI.limit(request)
            let after = try BlueprintAPI.cursor(request)
            // Listing follows registration order (05 §3), which is also id order for the catalog.
            let templates = karn.catalog.all().filter { template in
                (tier == nil || template.tier == tier) && (stage == nil || template.descriptor.stage == stage)
                    && (after == nil || template.id > after!)
            }
            return try .json(BlueprintAPI.page(Array(templates.prefix(limit + 1)), limit: limit, id: \.id))
        }

        routes.on("getKarnTemplate") { request in
            let id = try BlueprintAPI.blueprintId(request)
            guard let template = karn.catalog.template(id) else { throw BlueprintAPI.notFound("blueprint \(id) is not in the catalog") }
            return try .json(template)
        }

        routes.on("validateKarnParameters") { request in
            let id = try BlueprintAPI.blueprintId(request)
            let body = try request.decodeJSON(ValidateRequest.self)
            let validated: ValidatedRequest
            do throws(KarnError) {
                validated = try karn.validate(id: id, parameters: body.parameters, approved: body.approved ?? false)
            } catch {
                throw problem(error)
            }
            return try .json(
                ValidateResponse(
                    blueprintId: id, requested: validated.requested, effective: validated.effective,
                    approvalRequired: validated.descriptor.approvalRequired,
                    quarantineOnly: validated.descriptor.quarantineOnly))
        }

        routes.on("selectKarnTemplate") { request in
            let body = request.body.isEmpty ? SelectRequest() : try request.decodeJSON(SelectRequest.self)
            var criteria = SelectionCriteria(
                context: body.context, allowAdversarial: body.allowAdversarial ?? false,
                conservative: body.conservative ?? false)
            if let name = body.tier {
                guard let tier = BlueprintTier.parse(name), tier != .unspecified else {
                    throw Problem.validation([
                        JSONFieldProblem(field: "tier", message: "'\(name)' is not a tier: use SAFE, EXPERIMENTAL or HIGH_RISK")
                    ])
                }
                criteria.tier = tier
            }
            if let context = body.context, context.utf8.count > 1024 {
                throw Problem.validation([JSONFieldProblem(field: "context", message: "at most 1024 bytes")])
            }
            let selection: Selection
            do throws(KarnError) {
                selection = try karn.select(criteria, approved: body.approved ?? false)
            } catch {
                throw problem(error)
            }
            return try .json(
                SelectResponse(
                    blueprintId: selection.template.id, template: selection.template,
                    candidateCount: selection.candidateCount, index: selection.index,
                    contextHashPrefix: selection.contextHashPrefix,
                    conservativePool: selection.conservativePool,
                    breakerState: karn.breakerState.rawValue))
        }
    }

    static func problem(_ error: KarnError) -> Problem {
        switch error {
        case .notFound(let id): BlueprintAPI.notFound("blueprint \(id) is not in the catalog")
        case .invalidParameters(let id, let problems): Problem.parameters(problems, blueprintId: id)
        case .noCandidates: Problem(status: 422, type: "/problems/no-candidates", detail: error.description)
        case .approvalRequired(let id, let tier): Problem.approvalRequired(id, tier)
        case .invalidCatalog: Problem(status: 500, detail: error.description)
        }
    }
}
