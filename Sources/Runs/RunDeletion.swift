// Deleting a finished run: its registry rows (run, epochs, events, seed view) and its checkpoints.
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
    /// Deletes a finished run: its checkpoint directory (when given; a worker process with its
    /// own checkpoint root keeps its copies until it prunes them), then its records — so a
    /// failure leaves the run listed and the delete can be repeated. Unfinished runs are
    /// refused (stop them first), unknown ones are not found.
    public func delete(_ id: String, checkpointDirectory: String?) throws {
        guard let status = try registry.status(id) else { throw RunControlError.notFound("no run \(id)") }
        guard status.isFinished else {
            throw RunControlError.conflict("run \(id) is \(status.rawValue); stop it before deleting it")
        }
        if let checkpointDirectory { try RunService.removeCheckpoints(checkpointDirectory) }
        try registry.delete(id)
        logger.info("run deleted", metadata: ["run": "\(id)"])
    }
}

extension RunService {
    /// A run just cancelled is recorded at once, but the worker holding it stops only at its
    /// next batch and may still be writing a checkpoint: a removal that races with it (a file
    /// appearing while the directory is emptied) is tried again, a few times.
    static func removeCheckpoints(_ directory: String) throws {
        for attempt in 1...10 {
            guard FileManager.default.fileExists(atPath: directory) else { return }
            do {
                try FileManager.default.removeItem(atPath: directory)
                return
            } catch  where attempt < 10 {
                Thread.sleep(forTimeInterval: 0.1)
            }
        }
    }
}
