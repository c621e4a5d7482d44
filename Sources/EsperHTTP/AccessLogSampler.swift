import Synchronization

/// Decides which requests the access log writes: every error (status ≥ 400), every slow
/// request and every mutation (a method other than GET, HEAD, OPTIONS) always; of the rest
/// (health checks, scrapes, reads) a `rate` fraction, evenly spaced — a counter, not a random
/// draw, so the fraction is exact and costs one atomic add.
public final class AccessLogSampler: Sendable {
    public let rate: Double
    public let slowNanoseconds: Int64
    private let seen = Atomic<UInt64>(0)

    /// `rate` in 0...1 (clamped); `slowMilliseconds`: requests at least this long are logged.
    public init(rate: Double, slowMilliseconds: Int) {
        self.rate = rate.isNaN ? 1 : min(1, max(0, rate))
        slowNanoseconds = Int64(max(0, slowMilliseconds)) * 1_000_000
    }

    public func shouldLog(method: String, status: Int, nanoseconds: Int64) -> Bool {
        if status >= 400 || nanoseconds >= slowNanoseconds { return true }
        if method != "GET" && method != "HEAD" && method != "OPTIONS" { return true }
        if rate >= 1 { return true }
        if rate <= 0 { return false }
        // The n-th sampled request is logged when n·rate crosses a whole number.
        let n = seen.add(1, ordering: .relaxed).oldValue
        return (Double(n + 1) * rate).rounded(.down) > (Double(n) * rate).rounded(.down)
    }
}
