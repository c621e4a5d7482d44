public import Prometheus
import Synchronization

/// One SLO's state (`GET /api/v1/nissa/slo`, `/metrics/summary`).
public struct SLOStatus: Sendable, Codable, Equatable {
    /// Latest objective and actual values.
    public var objective: Double
    public var actual: Double
    /// Fraction of samples that must meet the objective (`NISSA_SLO_TARGET`).
    public var objectiveTarget: Double
    /// Samples and violations in the long (budget) window.
    public var total: Int
    public var violations: Int
    /// violations / total — the reference's "burn_rate", kept for parity.
    public var violationFraction: Double
    /// 1 − objective_target.
    public var errorBudget: Double
    /// (violations / total) / error_budget over the long window: 1 spends the budget exactly
    /// by the window's end.
    public var burnRate: Double
    /// The same over the short window (fast burn).
    public var burnRateShort: Double
    public var shortTotal: Int
    public var shortViolations: Int
    /// max(0, 1 − burn_rate).
    public var budgetRemaining: Double
    /// Multi-window: short-window burn ≥ the fast-burn threshold and long-window burn ≥ 1.
    public var breached: Bool
    public var longWindowS: Double
    public var shortWindowS: Double
}

/// SLO samples from telemetry: a packet carrying both `slo.<key>_objective` and
/// `slo.<key>_actual` records one sample for `<key>` at the packet's time; it violates when
/// actual > objective (lower is better). Samples older than the long window are pruned.
public final class SLOTracker: Sendable {
    struct Sample {
        let time: Int64
        let violated: Bool
    }

    struct Series {
        var samples: [Sample] = []
        var objective = 0.0
        var actual = 0.0
    }

    private let options: NissaOptions
    private let state = Mutex([String: Series]())
    private let registry: PrometheusCollectorRegistry
    private let store = Mutex<NissaStateStore?>(nil)
    static let maxSamplesPerKey = 100_000

    public init(options: NissaOptions, registry: PrometheusCollectorRegistry) {
        self.options = options
        self.registry = registry
    }

    /// Extracts and records the SLO samples of one packet's metrics (name → value).
    public func ingest(_ metrics: [String: Double], at time: Int64) {
        for (name, objective) in metrics where name.hasPrefix("slo.") && name.hasSuffix("_objective") {
            let key = String(name.dropFirst(4).dropLast("_objective".count))
            guard !key.isEmpty, let actual = metrics["slo.\(key)_actual"] else { continue }
            record(key: key, objective: objective, actual: actual, at: time)
        }
    }

    public func record(key: String, objective: Double, actual: Double, at time: Int64) {
        insert(key: key, objective: objective, actual: actual, at: time)
        store.withLock { $0 }?.saveSample(
            NissaStateStore.StoredSample(key: key, time: time, violated: actual > objective, objective: objective, actual: actual))
        if let status = snapshot(now: time)[key] { export(key, status) }
    }

    /// Loads the samples saved by an earlier run (within the window) and saves later ones.
    public func restore(from store: NissaStateStore) {
        let samples = store.loadSamples()
        for sample in samples {
            insert(key: sample.key, objective: sample.objective, actual: sample.actual, at: sample.time)
        }
        self.store.withLock { $0 = store }
        if let newest = samples.last?.time {
            for (key, status) in snapshot(now: newest) { export(key, status) }
        }
    }

    private func insert(key: String, objective: Double, actual: Double, at time: Int64) {
        let long = Int64(options.sloLongWindowSeconds * 1000)
        state.withLock { state in
            var series = state[key] ?? Series()
            series.objective = objective
            series.actual = actual
            let sample = Sample(time: time, violated: actual > objective)
            if let last = series.samples.last, last.time > time {
                let position = series.samples.firstIndex { $0.time > time } ?? series.samples.count
                series.samples.insert(sample, at: position)
            } else {
                series.samples.append(sample)
            }
            let cutoff = (series.samples.last?.time ?? time) - long
            if let first = series.samples.firstIndex(where: { $0.time >= cutoff }), first > 0 {
                series.samples.removeFirst(first)
            }
            if series.samples.count > SLOTracker.maxSamplesPerKey {
                series.samples.removeFirst(series.samples.count - SLOTracker.maxSamplesPerKey)
            }
            state[key] = series
        }
    }

    private func export(_ key: String, _ status: SLOStatus) {
        let help = "SLO error-budget burn rate (1 = the budget lasts exactly the window), by window."
        registry.gauge("esper_nissa_slo_burn_rate", labels: [("slo", key), ("window", "long")], help: help).set(status.burnRate)
        registry.gauge("esper_nissa_slo_burn_rate", labels: [("slo", key), ("window", "short")], help: help).set(status.burnRateShort)
        registry.gauge(
            "esper_nissa_slo_budget_remaining_ratio", labels: [("slo", key)],
            help: "SLO error budget left over the long window, 0-1."
        ).set(status.budgetRemaining)
    }

    /// Every SLO's state as of `now` (ms since the epoch).
    public func snapshot(now: Int64) -> [String: SLOStatus] {
        let long = Int64(options.sloLongWindowSeconds * 1000)
        let short = Int64(options.sloShortWindowSeconds * 1000)
        let budget = max(1 - options.sloTarget, 1e-9)
        return state.withLock { state in
            var result: [String: SLOStatus] = [:]
            for (key, series) in state {
                var total = 0, violations = 0, shortTotal = 0, shortViolations = 0
                for sample in series.samples where sample.time >= now - long {
                    total += 1
                    if sample.violated { violations += 1 }
                    if sample.time >= now - short {
                        shortTotal += 1
                        if sample.violated { shortViolations += 1 }
                    }
                }
                let fraction = total == 0 ? 0 : Double(violations) / Double(total)
                let shortFraction = shortTotal == 0 ? 0 : Double(shortViolations) / Double(shortTotal)
                let burn = fraction / budget
                let burnShort = shortFraction / budget
                result[key] = SLOStatus(
                    objective: series.objective, actual: series.actual, objectiveTarget: options.sloTarget,
                    total: total, violations: violations, violationFraction: fraction, errorBudget: 1 - options.sloTarget,
                    burnRate: burn, burnRateShort: burnShort, shortTotal: shortTotal, shortViolations: shortViolations,
                    budgetRemaining: max(0, 1 - burn), breached: burnShort >= options.sloFastBurnThreshold && burn >= 1,
                    longWindowS: options.sloLongWindowSeconds, shortWindowS: options.sloShortWindowSeconds)
            }
            return result
        }
    }
}
