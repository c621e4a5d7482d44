// BlueprintBench: measures the blueprint pipeline's budgets — forge wall time for the whole
// catalog (goal ≤ 60 s) and Urza kernel-fetch latency from the decoded-kernel cache (goal p50 ≤
// 0.1 ms) and from disk (goal p99 ≤ 10 ms). Run in release: see docs/performance.md.
import Foundation
import Karn
import KernelRuntime
import Tezzeret
import Urza

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func format(_ ms: Double) -> String { String(format: "%.4f", ms) }

let arguments = CommandLine.arguments
let forgeRuns = arguments.firstIndex(of: "--forge-runs").map { Int(arguments[$0 + 1])! } ?? 3
let fetches = arguments.firstIndex(of: "--fetches").map { Int(arguments[$0 + 1])! } ?? 20_000
let strategy = arguments.firstIndex(of: "--strategy").map { CompileStrategy(rawValue: arguments[$0 + 1])! } ?? .standard
let root = NSTemporaryDirectory() + "blueprint-bench-\(getpid())"
defer { try? FileManager.default.removeItem(atPath: root) }

print("blueprint pipeline benchmark — strategy \(strategy.rawValue), \(ProcessInfo.processInfo.activeProcessorCount) cores")

// 1. Forge wall time: a fresh data directory each run, the whole 50-template catalog.
var forgeTimes: [Double] = []
var lastData = ""
for run in 1...forgeRuns {
    let data = root + "/forge-\(run)"
    let catalog = try KarnCatalog()
    let telemetry = InMemoryBlueprintTelemetry()
    let urza = try UrzaLibrary(configuration: UrzaConfiguration(root: data + "/urza"), catalog: catalog, telemetry: telemetry)
    var options = CompileOptions()
    options.strategy = strategy
    let service = try TezzeretService(catalog: catalog, urza: urza, directory: data + "/tezzeret",
                                      forgeWALPath: data + "/urza/forge_wal.json", options: options, telemetry: telemetry)
    let started = monotonic()
    let summary = service.forge.run(trigger: "bench")
    let seconds = monotonic() - started
    service.stop()
    precondition(summary.compiled.count == 50 && summary.failed.isEmpty, "forge run failed: \(summary.failed)")
    forgeTimes.append(seconds)
    let compiles = telemetry.metrics(named: "tezzeret.compile.duration_ms")
        .sorted { $0.value > $1.value }.prefix(3)
        .map { "\($0.labels["blueprint_id"] ?? "?") \(Int($0.value)) ms" }.joined(separator: ", ")
    print("forge run \(run): \(String(format: "%.2f", seconds)) s for 50 templates (slowest: \(compiles))")
    lastData = data
}
let sortedForge = forgeTimes.sorted()
print("forge wall time: median \(String(format: "%.2f", percentile(sortedForge, 0.5))) s, max \(String(format: "%.2f", sortedForge.last!)) s (goal ≤ 60 s)")

// 2. Kernel fetch latency, over every stored blueprint in turn.
let ids = (1...50).map { String(format: "BP%03d", $0) }
let cached = try UrzaLibrary(configuration: UrzaConfiguration(root: lastData + "/urza"))
for id in ids { _ = try cached.fetchKernel(id, allowQuarantine: true) } // warm the cache
var hits: [Double] = []
hits.reserveCapacity(fetches)
for i in 0..<fetches {
    let t0 = monotonic()
    _ = try cached.fetchKernel(ids[i % ids.count], width: 64, allowQuarantine: true)
    hits.append((monotonic() - t0) * 1000)
}
hits.sort()
print("fetch from cache (\(fetches) fetches): p50 \(format(percentile(hits, 0.5))) ms, p99 \(format(percentile(hits, 0.99))) ms, max \(format(hits.last!)) ms (goal p50 ≤ 0.1 ms)")

var uncachedConfiguration = UrzaConfiguration(root: lastData + "/urza")
uncachedConfiguration.kernelCacheBytes = 0 // every fetch reads, hashes and decodes the file
let cold = try UrzaLibrary(configuration: uncachedConfiguration)
let coldFetches = max(500, fetches / 20)
var misses: [Double] = []
var largest = (id: "", bytes: 0)
for i in 0..<coldFetches {
    let id = ids[i % ids.count]
    let t0 = monotonic()
    let fetch = try cold.fetchKernel(id, width: 64, allowQuarantine: true)
    misses.append((monotonic() - t0) * 1000)
    precondition(!fetch.cacheHit)
    if let bytes = cold.get(id)?.artifactBytes, bytes > largest.bytes { largest = (id, bytes) }
}
misses.sort()
print("fetch from disk (\(coldFetches) fetches): p50 \(format(percentile(misses, 0.5))) ms, p99 \(format(percentile(misses, 0.99))) ms, max \(format(misses.last!)) ms (goal ≤ 10 ms; largest artifact \(largest.id), \(largest.bytes) bytes)")

// 3. The Kasmina path: fetch with the 10 ms budget and the fallback chain.
var seedFetches: [Double] = []
var fallbacks = 0
for i in 0..<fetches {
    let t0 = monotonic()
    let result = cached.fetchSeedKernel(ids[i % 42], width: 64) // SAFE and EXPERIMENTAL: servable
    seedFetches.append((monotonic() - t0) * 1000)
    if result.source != .requested { fallbacks += 1 }
}
seedFetches.sort()
print("seed kernel fetch (budget 10 ms): p50 \(format(percentile(seedFetches, 0.5))) ms, p99 \(format(percentile(seedFetches, 0.99))) ms, fallbacks \(fallbacks)/\(fetches)")
