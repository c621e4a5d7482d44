// Deleting a finished run: its registry rows (run, epochs, events, seed view) and its checkpoints.
import EsperStorage
import Foundation

extension RunRegistry {
    /// Removes every row of a run (run, epochs, events, stored seed view) in one transaction.
    func delete(_ id: String) throws {
        try database.transaction { tx in
            for table in ["run_epochs", "run_events", "run_seeds"] {
                try tx.query("DELETE FROM \(table) WHERE run_id = ?", [.text(id)])
            }
            try tx.query("DELETE FROM runs WHERE id = ?", [.text(id)])
        }
    }
}

extension RunService {
    /// Deletes a finished run: its records, then its checkpoint directory (when given; a
    /// worker process with its own checkpoint root keeps its copies until it prunes them).
    /// Unfinished runs are refused (stop them first), unknown ones are not found.
    public func delete(_ id: String, checkpointDirectory: String?) throws {
        guard let status = try registry.status(id) else { throw RunControlError.notFound("no run \(id)") }
        guard status.isFinished else {
            throw RunControlError.conflict("run \(id) is \(status.rawValue); stop it before deleting it")
        }
        try registry.delete(id)
        if let checkpointDirectory, FileManager.default.fileExists(atPath: checkpointDirectory) {
            try FileManager.default.removeItem(atPath: checkpointDirectory)
        }
        logger.info("run deleted", metadata: ["run": "\(id)"])
    }
}
