// GET /api/v1/storage: the data directory measured per kind of file.
import EsperStorage
import Foundation

extension Application {
    /// Kinds: the run registry, checkpoints, studies, Urza's artifacts, field reports, Redis's
    /// files, and everything else.
    static func storageUsage(dataDirectory: String, checkpointRoot: String) -> DirectoryUsage {
        let kinds = ["runs_db", "checkpoints", "studies", "urza_artifacts", "field_reports", "redis", "other"]
        var usage = DirectoryUsage.measure(dataDirectory, kinds: kinds) { path in
            if path.hasPrefix("tolaria/runs.db") { return "runs_db" }
            if path.hasPrefix("tolaria/runs/") { return "checkpoints" }
            if path.hasPrefix("studies/") { return "studies" }
            if path.hasPrefix("urza/") { return "urza_artifacts" }
            if path.hasPrefix("tamiyo/field_reports") { return "field_reports" }
            if path.hasPrefix("redis/") { return "redis" }
            return "other"
        }
        // A checkpoint directory outside the data directory (ESPER_CHECKPOINT_DIR) counts too.
        let root = URL(fileURLWithPath: dataDirectory).standardizedFileURL.path + "/"
        let checkpoints = URL(fileURLWithPath: checkpointRoot).standardizedFileURL.path
        if !checkpoints.hasPrefix(root) {
            let outside = DirectoryUsage.measure(checkpoints, kinds: []) { _ in "checkpoints" }
            usage.kinds["checkpoints", default: DirectoryUsage.Kind()].bytes += outside.bytes
            usage.kinds["checkpoints", default: DirectoryUsage.Kind()].files += outside.files
            usage.bytes += outside.bytes
            usage.files += outside.files
        }
        return usage
    }
}
