import Foundation
public import Karn
import KernelRuntime
public import Leyline
import Synchronization
public import Urza

/// What Tamiyo knows about one blueprint (03-tamiyo §5): Karn's descriptor plus whether Urza
/// holds a usable kernel of it and for which slot width.
public struct BlueprintInfo: Sendable, Equatable, Codable {
    public var blueprintId: String
    public var name: String
    public var tier: BlueprintTier
    public var risk: Double
    public var stage: Int
    public var quarantineOnly: Bool
    public var approvalRequired: Bool
    public var description: String
    /// Urza has an AVAILABLE artifact.
    public var available: Bool
    /// Width the artifact was compiled for (nil without an artifact).
    public var seedWidth: Int?
    /// Kernel kind (`residual_mlp`, …) of the artifact or the template's recipe.
    public var kind: String
    /// The kernel is the identity at graft time and adds parameters (growth candidates).
    public var residual: Bool
    /// The growth family of the template (Karn's `BlueprintTemplate.family`: `widening`,
    /// `slot`, and whatever families the catalog registers); what the policies weigh trial
    /// outcomes by. Blueprints Urza holds without a Karn template are `slot` kernels.
    public var family: String = "slot"

    public var isSafe: Bool { tier == .safe }
}

/// The blueprint metadata cache: the whole Karn catalog joined with Urza's records, fetched
/// when the service starts and refreshed in the background when older than the TTL (5 min).
/// Lookups inside an epoch boundary only read memory — a stale entry is served while the
/// refresh runs, an unknown id is "unknown", never a cold Urza query in the epoch budget.
public final class BlueprintCatalog: Sendable {
    public let ttlSeconds: Double
    private let karn: KarnCatalog
    private let urza: UrzaLibrary?
    struct Snapshot {
        var entries: [String: BlueprintInfo] = [:]
        var fetchedAt = 0.0
        var refreshing = false
        var refreshes = 0
    }

    private let snapshot = Mutex(Snapshot())

    public init(karn: KarnCatalog, urza: UrzaLibrary?, ttlSeconds: Double = 300) {
        self.karn = karn
        self.urza = urza
        self.ttlSeconds = ttlSeconds
        refreshNow()
    }

    /// Re-reads Karn and Urza (the caller's thread; at start-up and in the background).
    public func refreshNow() {
        var entries: [String: BlueprintInfo] = [:]
        for template in karn.all() {
            let d = template.descriptor
            // Host-shaped templates (widening, conv branch) run on built-in C kernels made for the
            // host's shape (Tezzeret compiles their artifact at that shape on demand): always
            // available, residual (they add units at α = 0), listed under their template id and
            // their alias (`widen-8`, the name `seeds.blueprints` uses).
            let hostShaped = template.isHostShaped
            let info = BlueprintInfo(
                blueprintId: d.blueprintId, name: d.name, tier: d.tier, risk: d.riskValue, stage: d.stage,
                quarantineOnly: d.quarantineOnly, approvalRequired: d.approvalRequired, description: d.description,
                available: hostShaped, seedWidth: nil, kind: template.recipe.kind,
                residual: hostShaped
                    || KernelKind(rawValue: template.recipe.kind)?.startsAsIdentity == true && !template.recipe.kind.hasPrefix("fault_"),
                family: template.family)
            entries[d.blueprintId] = info
            if hostShaped, let alias = WideningCatalog.alias(d.blueprintId) {
                var aliased = info
                aliased.blueprintId = alias
                entries[alias] = aliased
            }
        }
        // Host-shaped artifacts (`BP052-i64-o10`) vouch for their template at one shape; they are
        // no blueprints of their own.
        for record in urza?.listAll() ?? [] where HostShape.parse(artifactId: record.blueprintId) == nil {
            var info =
                entries[record.blueprintId]
                ?? BlueprintInfo(
                    blueprintId: record.blueprintId, name: record.descriptor.name, tier: record.descriptor.tier,
                    risk: record.descriptor.riskValue, stage: record.descriptor.stage, quarantineOnly: record.descriptor.quarantineOnly,
                    approvalRequired: record.descriptor.approvalRequired, description: record.descriptor.description, available: false,
                    seedWidth: nil, kind: record.kind, residual: false)
            info.available = record.state == .available
            info.seedWidth = record.seedWidth
            info.kind = record.kind
            info.residual = KernelKind(rawValue: record.kind)?.startsAsIdentity == true && !record.kind.hasPrefix("fault_")
            entries[record.blueprintId] = info
        }
        let now = Date().timeIntervalSince1970
        snapshot.withLock {
            $0.entries = entries
            $0.fetchedAt = now
            $0.refreshing = false
            $0.refreshes += 1
        }
    }

    /// A lookup that never blocks on Urza: when the cache is past its TTL, a refresh starts on
    /// a background thread and the current (stale) entry is returned meanwhile.
    public func info(_ id: String) -> BlueprintInfo? {
        let (entry, stale) = snapshot.withLock { s -> (BlueprintInfo?, Bool) in
            let stale = Date().timeIntervalSince1970 - s.fetchedAt > ttlSeconds && !s.refreshing
            if stale { s.refreshing = true }
            return (s.entries[id], stale)
        }
        if stale {
            let thread = Thread { [self] in refreshNow() }
            thread.name = "tamiyo-catalog-refresh"
            thread.start()
        }
        return entry
    }

    public var all: [BlueprintInfo] { snapshot.withLock { $0.entries.values.sorted { $0.blueprintId < $1.blueprintId } } }
    public var fetchedAt: Double { snapshot.withLock { $0.fetchedAt } }
    public var refreshes: Int { snapshot.withLock { $0.refreshes } }

    /// Blueprints a run may graft into slots of `width` by default: SAFE, residual (identity at
    /// graft time) with parameters (not BP001's pass-through), with an artifact of that width;
    /// Karn's conservative-pool order (lowest risk, then id).
    public func defaultPool(width: Int) -> [String] {
        snapshot.withLock { s in
            s.entries.values.filter { $0.isSafe && $0.residual && $0.kind != "identity" && $0.available && $0.seedWidth == width }
                .sorted { ($0.risk, $0.blueprintId) < ($1.risk, $1.blueprintId) }.map(\.blueprintId)
        }
    }
}
