public import KernelRuntime
public import Urza

/// A kernel for a seed, always: what Urza's fallback chain produced and how.
public struct ProvidedKernel: Sendable {
    public let compiled: CompiledKernel
    public let origin: KernelOrigin
}

/// Where Kasmina gets kernels (02-kasmina §2 `runtime`): Urza in production.
public protocol SeedKernelProvider: Sendable {
    /// Fetches `blueprintId` for a slot of `width` within `budgetMs`; on an error or a slow
    /// fetch, the fallback chain (BP001, then identity) — never fails.
    func kernel(blueprintId: String, width: Int, budgetMs: Double, allowQuarantine: Bool) -> ProvidedKernel
    /// The exact kernel a seed was built with (checkpoint restore): `origin.kernelId`, or the
    /// built-in identity.
    func rebuild(_ origin: KernelOrigin, width: Int) throws -> CompiledKernel
}

/// Urza's library: `fetchSeedKernel` with its budget and fallback chain (counted by Urza).
public struct UrzaKernelProvider: SeedKernelProvider {
    public let urza: UrzaLibrary

    public init(urza: UrzaLibrary) { self.urza = urza }

    public func kernel(blueprintId: String, width: Int, budgetMs: Double, allowQuarantine: Bool) -> ProvidedKernel {
        let fetch = urza.fetchSeedKernel(blueprintId, width: width, budgetMs: budgetMs, allowQuarantine: allowQuarantine)
        let origin = KernelOrigin(
            requestedId: blueprintId, kernelId: fetch.kernel.blueprintId, source: fetch.source.rawValue,
            fetchLatencyMs: fetch.latencyMs, fallbackReason: fetch.reason,
            parameterCount: fetch.kernel.parameterCount, kind: fetch.kernel.spec.kind.rawValue)
        return ProvidedKernel(compiled: fetch.kernel, origin: origin)
    }

    public func rebuild(_ origin: KernelOrigin, width: Int) throws -> CompiledKernel {
        if origin.kernelId == "identity" { return try CompiledKernel.identity(width: width) }
        return try urza.fetchKernel(origin.kernelId, width: width, allowQuarantine: true).kernel
    }
}
