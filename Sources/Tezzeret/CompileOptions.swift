public import Karn

/// How much effort the autotuner spends (06 §5). Conservative mode steps one level down.
public enum CompileStrategy: String, Sendable, CaseIterable, Codable {
    /// The kind's default variant, no timing.
    case emergency
    /// Two candidates, 3 timed runs each.
    case fast
    /// Every candidate, 7 timed runs (the default).
    case standard
    /// Every candidate plus larger k tiles, 15 timed runs.
    case aggressive

    /// Timed runs per candidate (0: no timing).
    var timedRuns: Int {
        switch self {
        case .emergency: 0
        case .fast: 3
        case .standard: 7
        case .aggressive: 15
        }
    }

    /// Wall budget for tuning one template; tuning stops (keeping the best so far) when spent.
    var autotuneBudgetSeconds: Double {
        switch self {
        case .emergency: 0.05
        case .fast: 0.25
        case .standard: 1
        case .aggressive: 5
        }
    }

    public var steppedDown: CompileStrategy {
        switch self {
        case .aggressive: .standard
        case .standard: .fast
        case .fast, .emergency: .emergency
        }
    }
}

/// Settings of one compiler (06 §1.1, §4).
public struct CompileOptions: Sendable {
    /// Width d of the host's seed slots; every kernel maps [B, d] -> [B, d].
    public var seedWidth = 64
    /// Batch the autotuner and the latency gate use.
    public var batchHint = 32
    /// Mixed into every kernel's seed, so a whole catalog can be re-rolled.
    public var globalSeed: UInt64 = 0
    public var strategy = CompileStrategy.standard
    /// Attempts per compile = maxRetries + 1 (06 §1.1: default 1).
    public var maxRetries = 1
    /// A compile still running after this is abandoned as a (retryable) timeout (design: 30 s).
    public var timeoutSeconds: Double = 30
    /// CPU time one step of the compile's kernel calls (one gate, or one autotune candidate)
    /// may use before the watchdog kills them (they also stop at `timeoutSeconds` of wall
    /// time). A healthy step needs a small fraction of this even at `aggressive`.
    public var kernelCallCPUSeconds: Double = 2
    /// Backoff between attempts: base · 2^n, capped (06 §9); none after an injected failure.
    public var backoffBaseSeconds = 0.1
    public var backoffCapSeconds = 2.0
    /// Fault injection for tests (06 §1.1): returning true fails that attempt.
    public var errorSampler: (@Sendable (BlueprintDescriptor) -> Bool)?

    public init() {}
}
