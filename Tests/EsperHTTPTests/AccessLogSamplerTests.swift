import EsperHTTP
import Testing

@Suite struct AccessLogSamplerTests {
    @Test func errorsSlowRequestsAndMutationsAreAlwaysLogged() {
        let sampler = AccessLogSampler(rate: 0, slowMilliseconds: 1000)
        #expect(!sampler.shouldLog(method: "GET", status: 200, nanoseconds: 1_000))
        #expect(!sampler.shouldLog(method: "HEAD", status: 304, nanoseconds: 1_000))
        #expect(sampler.shouldLog(method: "GET", status: 404, nanoseconds: 1_000))
        #expect(sampler.shouldLog(method: "GET", status: 503, nanoseconds: 1_000))
        #expect(sampler.shouldLog(method: "GET", status: 200, nanoseconds: 1_000_000_000))
        #expect(!sampler.shouldLog(method: "GET", status: 200, nanoseconds: 999_999_999))
        for method in ["POST", "PUT", "PATCH", "DELETE"] { #expect(sampler.shouldLog(method: method, status: 202, nanoseconds: 1)) }
    }

    @Test func theFractionIsExactAndEvenlySpaced() {
        for (rate, expected) in [(1.0, 1000), (0.5, 500), (0.1, 100), (0.013, 13), (0.0, 0)] {
            let sampler = AccessLogSampler(rate: rate, slowMilliseconds: 1000)
            let logged = (0..<1000).map { _ in sampler.shouldLog(method: "GET", status: 200, nanoseconds: 1) }
            #expect(logged.filter { $0 }.count == expected, "rate \(rate)")
            if rate == 0.1 { #expect(logged.indices.filter { logged[$0] }.prefix(3) == [9, 19, 29]) }
        }
        // Out-of-range input is clamped (Configuration refuses it before it gets here).
        #expect(AccessLogSampler(rate: 7, slowMilliseconds: 1).rate == 1 && AccessLogSampler(rate: -1, slowMilliseconds: 1).rate == 0)
    }
}
