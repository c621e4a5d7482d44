// Kasmina's seed views kept in the run registry's database: the adapter between the two
// modules lives here, where they are wired, so neither domain module knows the other.
import Kasmina
import Runs

/// Stores Kasmina's seed views in the run registry (they outlive a restart with the runs).
struct RunRegistrySeedViews: SeedViewStore {
    let registry: RunRegistry

    func saveSeedView(runId: String, json: String) throws { try registry.saveSeedView(runId: runId, json: json) }
    func seedView(runId: String) throws -> String? { try registry.seedView(runId: runId) }
}
