public import KernelRuntime

/// What Kasmina gets for a seed: a kernel, always — the requested one, the default blueprint,
/// or a pass-through — and why.
public struct SeedKernelFetch: Sendable {
    public enum Source: String, Sendable {
        case requested
        /// The fallback blueprint (BP001) because the requested fetch failed or was too slow.
        case fallback
        /// A built-in identity kernel because the fallback failed too.
        case identity
    }

    public let kernel: CompiledKernel
    public let source: Source
    public let requestedId: String
    /// Latency of the requested fetch (the one the budget applies to).
    public let latencyMs: Double
    /// Why the requested kernel was not used (nil when it was).
    public let reason: String?
}

extension UrzaLibrary {
    /// The Kasmina contract (08 §1.6): fetch `id` for a slot of `width`; on an error or a
    /// latency over `budgetMs`, fall back to `fallbackId`, and if that fails too, to an identity
    /// kernel. Every fallback is counted and reported (`fallback_applied`); a clean fetch
    /// reports `kasmina.kernel.fetch_latency_ms`.
    public func fetchSeedKernel(
        _ id: String, width: Int, budgetMs: Double = 10, fallbackId: String = "BP001",
        allowQuarantine: Bool = false
    ) -> SeedKernelFetch {
        precondition((1...KernelSpec.maxWidth).contains(width), "slot width \(width) outside 1...\(KernelSpec.maxWidth)")
        let reason: String
        let latency: Double
        do {
            let fetched = try fetchKernel(id, width: width, allowQuarantine: allowQuarantine)
            if fetched.latencyMs <= budgetMs {
                telemetry.metric(
                    "kasmina", "kasmina.kernel.fetch_latency_ms", fetched.latencyMs,
                    ["blueprint_id": id, "cache": fetched.cacheHit ? "hit" : "miss"])
                return SeedKernelFetch(
                    kernel: fetched.kernel, source: .requested, requestedId: id,
                    latencyMs: fetched.latencyMs, reason: nil)
            }
            latency = fetched.latencyMs
            reason = "latency \(fetched.latencyMs) ms over the \(budgetMs) ms budget"
        } catch {
            latency = 0
            reason = error.description
        }
        if id != fallbackId, let fallback = try? fetchKernel(fallbackId, width: width) {
            countFallback(toIdentity: false)
            telemetry.event(
                "kasmina", "fallback_applied", .warning,
                ["requested": id, "used": fallbackId, "reason": reason])
            telemetry.metric("urza", "urza.kernel.fallbacks", 1, ["to": fallbackId])
            return SeedKernelFetch(
                kernel: fallback.kernel, source: .fallback, requestedId: id, latencyMs: latency,
                reason: reason)
        }
        countFallback(toIdentity: true)
        telemetry.event("kasmina", "fallback_applied", .warning, ["requested": id, "used": "identity", "reason": reason])
        telemetry.metric("urza", "urza.kernel.fallbacks", 1, ["to": "identity"])
        // Valid for every width in 1...KernelSpec.maxWidth (checked on entry).
        let identity = try! CompiledKernel.identity(width: width)
        return SeedKernelFetch(kernel: identity, source: .identity, requestedId: id, latencyMs: latency, reason: reason)
    }

    private func countFallback(toIdentity: Bool) {
        caches.withLock { caches in
            if toIdentity { caches.fallbacksToIdentity += 1 } else { caches.fallbacksToDefault += 1 }
        }
    }
}
