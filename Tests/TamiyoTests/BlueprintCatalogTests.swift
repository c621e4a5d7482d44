import Karn
import Testing

@testable import Tamiyo

/// Tamiyo's blueprint cache reads the widening family from Karn's catalog.
@Suite struct BlueprintCatalogTests {
    /// Each widening template is listed under its id and its alias, SAFE, available without an
    /// Urza artifact, residual; never in a slot width's default pool.
    @Test func wideningTemplatesAreListedUnderTheirIdAndAlias() throws {
        let catalog = BlueprintCatalog(karn: try KarnCatalog(), urza: nil)
        for (id, alias) in [("BP051", "widen-4"), ("BP052", "widen-8"), ("BP053", "widen-16")] {
            let byId = try #require(catalog.info(id))
            let byAlias = try #require(catalog.info(alias))
            #expect(byId.isSafe && byId.available && byId.residual && byId.kind == "widen" && byId.seedWidth == nil)
            #expect(byAlias.name == byId.name && byAlias.risk == 0.1 && byAlias.available && byAlias.blueprintId == alias)
        }
        #expect(catalog.info("BP008")?.available == false, "slot templates need an Urza artifact")
        #expect(!catalog.defaultPool(width: 16).contains { $0.hasPrefix("widen") || ["BP051", "BP052", "BP053"].contains($0) })
        // The structure family (conv branches) the same way.
        for (id, alias) in [("BP054", "conv-branch-8"), ("BP055", "conv-branch-16"), ("BP056", "conv-branch-25")] {
            let byAlias = try #require(catalog.info(alias))
            #expect(catalog.info(id)?.available == true && byAlias.available && byAlias.residual && byAlias.kind == "conv_branch")
            #expect(!catalog.defaultPool(width: 16).contains(id) && !catalog.defaultPool(width: 16).contains(alias))
        }
    }
}
