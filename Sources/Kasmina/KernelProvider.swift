import Foundation
public import Karn
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
    /// The Urza artifact that vouches for a host-shaped seed's kernel (widening, conv branch)
    /// at `shape`: fetched and checksum-checked, compiled on demand when the provider can.
    /// Never fails: without an artifact the seed is built unvouched (`artifactId` nil).
    func hostShapedArtifact(blueprintId: String, shape: HostShape, budgetMs: Double) -> HostShapedKernelFetch
}

/// What `hostShapedArtifact` found: the artifact's id and hash, or why there is none.
public struct HostShapedKernelFetch: Sendable, Equatable {
    /// `BP052-i40-o10`; nil when no artifact was used.
    public let artifactId: String?
    public let artifactSha256: String?
    /// Fetch (or compile and fetch) time.
    public let latencyMs: Double
    /// Why no artifact was used (nil when one was, or when the provider keeps none).
    public let reason: String?

    public init(artifactId: String?, artifactSha256: String?, latencyMs: Double, reason: String?) {
        self.artifactId = artifactId
        self.artifactSha256 = artifactSha256
        self.latencyMs = latencyMs
        self.reason = reason
    }
}

extension SeedKernelProvider {
    /// Providers without a library (test doubles) vouch for nothing: the seed is built.
    public func hostShapedArtifact(blueprintId: String, shape: HostShape, budgetMs: Double) -> HostShapedKernelFetch {
        HostShapedKernelFetch(artifactId: nil, artifactSha256: nil, latencyMs: 0, reason: nil)
    }
}

/// Urza's library: `fetchSeedKernel` with its budget and fallback chain (counted by Urza).
public struct UrzaKernelProvider: SeedKernelProvider {
    public let urza: UrzaLibrary
    /// Compiles and stores a host-shaped template at a shape when Urza lacks it (the server's
    /// Tezzeret); nil on a worker, which only has what its mirror fetched.
    public let compileHostShaped: (@Sendable (_ templateId: String, _ shape: HostShape) throws -> Void)?

    public init(urza: UrzaLibrary, compileHostShaped: (@Sendable (String, HostShape) throws -> Void)? = nil) {
        self.urza = urza
        self.compileHostShaped = compileHostShaped
    }

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

    /// Urza's artifact within `budgetMs`; a missing or damaged one is compiled on demand when
    /// a compiler is wired (bounded by Tezzeret's compile timeout, not the fetch budget), else
    /// the seed is built unvouched with the reason.
    public func hostShapedArtifact(blueprintId: String, shape: HostShape, budgetMs: Double) -> HostShapedKernelFetch {
        guard let templateId = WideningCatalog.templateId(blueprintId) else {
            return HostShapedKernelFetch(artifactId: nil, artifactSha256: nil, latencyMs: 0, reason: "\(blueprintId) is not host-shaped")
        }
        let started = Date()
        var reason: String
        var missing = false
        do {
            let record = try urza.hostShapedArtifact(templateId, shape: shape)
            let latency = Date().timeIntervalSince(started) * 1000
            if latency <= budgetMs {
                return HostShapedKernelFetch(
                    artifactId: record.blueprintId, artifactSha256: record.artifactSHA256, latencyMs: latency, reason: nil)
            }
            reason = "latency \(latency) ms over the \(budgetMs) ms budget"
        } catch {
            switch error {
            case .notFound, .unavailable: missing = true
            default: break
            }
            reason = error.description
        }
        if missing, let compileHostShaped {
            do {
                try compileHostShaped(templateId, shape)
                let record = try urza.hostShapedArtifact(templateId, shape: shape)
                return HostShapedKernelFetch(
                    artifactId: record.blueprintId, artifactSha256: record.artifactSHA256,
                    latencyMs: Date().timeIntervalSince(started) * 1000, reason: nil)
            } catch {
                reason = "compile on demand failed: \(error)"
            }
        }
        return HostShapedKernelFetch(
            artifactId: nil, artifactSha256: nil, latencyMs: Date().timeIntervalSince(started) * 1000,
            reason: missing && compileHostShaped == nil ? nil : reason)
    }
}
