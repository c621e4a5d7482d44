import EsperAPI
import EsperJSON
public import Karn
public import Kasmina
public import Tezzeret
public import Urza

/// The blueprint pipeline assembled from the configuration: Karn's catalog, Urza's library
/// under `<data>/urza`, and Tezzeret (compiler, forge, request pipeline) under
/// `<data>/tezzeret`. Used by `esper serve` (through `Application`) and by `esper forge`.
public final class BlueprintServices: Sendable {
    public let catalog: KarnCatalog
    public let karn: KarnService
    public let urza: UrzaLibrary
    public let tezzeret: TezzeretService
    /// Everything the pipeline reported, most recent last (bounded).
    public let recent: InMemoryBlueprintTelemetry
    let forgeAtStart: Bool

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Opens (and recovers) the library and prepares the compiler; starts no thread.
    /// `telemetry` receives every record as well as the in-memory `recent` sink (the lead wires
    /// the Oona telemetry stream here).
    public init(configuration: Configuration, telemetry: (any BlueprintTelemetry)? = nil) throws(OpenError) {
        let settings = configuration.blueprints
        let recent = InMemoryBlueprintTelemetry()
        self.recent = recent
        let sink: any BlueprintTelemetry = telemetry.map { FanOutBlueprintTelemetry([recent, $0]) } ?? recent
        do {
            catalog = try KarnCatalog(loadDefaults: true)
            karn = KarnService(catalog: catalog, telemetry: sink)
            var urzaConfiguration = UrzaConfiguration(root: configuration.dataDirectory + "/urza")
            urzaConfiguration.kernelCacheBytes = settings.kernelCacheMegabytes << 20
            urza = try UrzaLibrary(configuration: urzaConfiguration, catalog: catalog, telemetry: sink)
            var options = CompileOptions()
            options.seedWidth = settings.seedWidth
            options.maxRetries = settings.maxRetries
            options.strategy = CompileStrategy(rawValue: settings.compileStrategy) ?? .standard
            tezzeret = try TezzeretService(
                catalog: catalog, urza: urza, directory: configuration.dataDirectory + "/tezzeret",
                forgeWALPath: configuration.dataDirectory + "/urza/forge_wal.json",
                options: options, workers: settings.forgeWorkers, telemetry: sink)
        } catch {
            throw OpenError(description: "cannot open the blueprint pipeline: \(error)")
        }
        forgeAtStart = settings.forgeAtStart
        // A damaged or missing artifact is recompiled by the next forge run.
        let service = tezzeret
        urza.onArtifactInvalid { _, _ in service.requestForgeRun(trigger: "artifact_invalid") }
    }

    /// Kasmina's kernels on the server: Urza, and host-shaped artifacts (widening, conv branch)
    /// compiled by Tezzeret at the shape a seed attaches to when Urza lacks them.
    public func kernelProvider() -> UrzaKernelProvider {
        let compiler = tezzeret.compiler
        let urza = urza
        return UrzaKernelProvider(urza: urza) { templateId, shape in
            try compiler.compileHostShaped(templateId, shape: shape, into: urza)
        }
    }

    /// Starts the forge thread; with `ESPER_FORGE_AT_START=on` it checks every artifact and
    /// compiles what is missing, in the background.
    public func start() { tezzeret.start(runNow: forgeAtStart) }

    /// `esper forge`: Urza's integrity scan, then one forge run on the calling thread.
    public func runForgeOnce() -> ForgeRunSummary {
        _ = urza.verifyAll()
        return tezzeret.forge.run(trigger: "cli")
    }

    /// Finishes the compiles in progress (the rest stays in the forge WAL) and stops.
    public func stop() { tezzeret.stop() }

    /// Degraded when an artifact is missing or corrupt (until the forge recompiles it) or the
    /// last forge run gave up on a blueprint.
    var health: HealthCheckResult {
        let stats = urza.stats
        let forge = tezzeret.forgeStatus
        var detail = "\(stats.available) of \(catalog.count) blueprints available; forge \(forge.state)"
        if !forge.pending.isEmpty { detail += ", \(forge.pending.count) pending" }
        let damaged = stats.missing + stats.corrupt + stats.deprecated
        if damaged > 0 { detail += "; \(damaged) artifacts missing or corrupt" }
        if !forge.failed.isEmpty { detail += "; failed: " + forge.failed.map(\.blueprintId).joined(separator: ", ") }
        return HealthCheckResult(status: damaged == 0 && forge.failed.isEmpty ? .ok : .degraded, detail: detail)
    }
}

extension ForgeRunSummary {
    /// The summary as one line of JSON (what `esper forge` prints).
    public var json: [UInt8] { (try? JanssonEncoder().encode(self)) ?? Array("{}".utf8) }
}
