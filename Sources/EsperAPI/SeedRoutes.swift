public import EsperHTTP
import EsperJSON
import Foundation
public import Kasmina
public import Runs

/// `/api/v1/runs/{id}/seeds`: the seeds Kasmina grafted into a run (live and finished), one
/// seed, and the operator's cull (the runbook's `SEED_OP_CULL` answer to an isolation breach):
/// the seed's slot computes the host function again from the run's next training batch, and
/// the cull completes (CANCELLED, slot embargoed, field report) at the epoch boundary. A run
/// trained on an `esper worker` is served the same way from the views its worker sends, and
/// its culls are relayed to that worker.
public enum SeedRoutes {
    struct SeedList: Encodable {
        var runId: String
        var epoch: Int?
        var active: Bool
        var isolationViolations: Int
        var items: [SeedView]
        var slots: [SlotView]
    }

    public static func register(into routes: inout OperationHandlers, seeds: SeedRegistry, runs: RunService) {
        routes.on("listSeeds") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let id = try existingRun(request, runs)
            guard let view = seeds.view(id) else {
                return try .json(SeedList(runId: id, epoch: nil, active: false, isolationViolations: 0, items: [], slots: []))
            }
            return try .json(
                SeedList(
                    runId: id, epoch: view.epoch, active: view.active, isolationViolations: view.isolationViolations,
                    items: view.seeds, slots: view.slots))
        }
        routes.on("getSeed") { request in
            try BlueprintAPI.checkQuery(request, allowed: [])
            let id = try existingRun(request, runs)
            let seedId = try seedId(request)
            guard let seed = seeds.view(id)?.seeds.first(where: { $0.seedId == seedId }) else {
                throw Problem.notFound("run \(id) has no seed \(seedId)")
            }
            return try .json(seed)
        }
        routes.on("cullSeed") { request in
            let id = try existingRun(request, runs)
            let seedId = try seedId(request)
            let view: SeedView
            do throws(CullRequestError) {
                // A run on an `esper worker`: the cull goes to the worker holding it.
                view = try seeds.requestCull(runId: id, seedId: seedId) { try runs.requestCull(runId: id, seedId: seedId) }
            } catch {
                switch error {
                case .unknownRun, .unknownSeed: throw Problem.notFound("run \(id) has no seed \(seedId)")
                case .runNotActive: throw Problem.conflict("run \(id) is not training here; its seeds can no longer change")
                case .notCullable(let stage): throw Problem.conflict("seed \(seedId) is \(stage) and cannot be culled")
                case .relayFailed(let reason): throw Problem.unavailable("the cull could not be handed to the run's worker: \(reason)")
                }
            }
            return try .json(view, status: 202)
        }
    }

    static func existingRun(_ request: HTTPRequest, _ runs: RunService) throws -> String {
        let id = try RunRoutes.runId(request)
        guard try runs.run(id) != nil else { throw Problem.notFound("no run \(id)") }
        return id
    }

    /// Seed ids are `seed-<layer>-<epoch>` or ids a command named: 1-128 characters of
    /// letters, digits, `-`, `_`, `.`.
    static func seedId(_ request: HTTPRequest) throws(Problem) -> String {
        let id = request.pathParameter("seed_id")
        guard (1...128).contains(id.utf8.count),
            id.utf8.allSatisfy({
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95 || $0 == 46
            })
        else {
            throw Problem(
                status: 400, detail: "'\(id.prefix(64))' is not a seed id",
                errors: [JSONFieldProblem(field: "seed_id", message: "1-128 letters, digits, '-', '_' or '.'")])
        }
        return id
    }
}
