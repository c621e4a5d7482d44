// DELETE /api/v1/runs/{id} and GET /api/v1/storage: removing finished runs and seeing what the data directory holds.
public import EsperHTTP
import EsperJSON
public import EsperStorage
import Foundation
public import Runs

public enum StorageRoutes {
    /// `checkpointDirectory`: where the server keeps a run's checkpoints; `usage`: the data
    /// directory measured per kind.
    public static func register(
        into routes: inout OperationHandlers, runs: RunService, checkpointDirectory: @escaping @Sendable (String) -> String?,
        usage: @escaping @Sendable () -> DirectoryUsage
    ) {
        routes.on("deleteRun") { request in
            let id = try RunRoutes.runId(request)
            do {
                try runs.delete(id, checkpointDirectory: checkpointDirectory(id))
            } catch let error as RunControlError {
                switch error {
                case .notFound(let message): throw Problem.notFound(message)
                case .conflict(let message): throw Problem.conflict(message)
                case .unavailable(let message): throw Problem.unavailable(message)
                }
            }
            return HTTPResponse(status: 204)
        }
        routes.on("getStorage") { _ in try .json(usage()) }
    }
}
