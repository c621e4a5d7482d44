import EsperTestSupport
import Foundation
import Testing

/// `ESPER_ACCESS_LOG_SAMPLE` on a real `esper serve`: the lines in its log are counted.
@Suite(.serialized) struct AccessLogSamplingTests {
    static func lines(_ log: String, _ needle: String) -> Int { log.split(separator: "\n").filter { $0.contains(needle) }.count }

    /// 30 health checks, then 10 unknown paths (404) and 5 bad submissions (400).
    static func traffic(_ port: UInt16) throws {
        for _ in 0..<30 { #expect(try RawHTTP.request(port: port, path: "/healthz").status == 200) }
        for index in 0..<10 { #expect(try RawHTTP.request(port: port, path: "/api/v1/no-such-thing-\(index)").status == 404) }
        for _ in 0..<5 {
            let response = try RawHTTP.request(
                port: port, method: "POST", path: "/api/v1/runs", headers: ["Content-Type": "application/json"], body: Array("{".utf8))
            #expect(response.status == 400)
        }
    }

    /// The log of a real server with `ESPER_ACCESS_LOG_SAMPLE=sample` after `traffic`.
    static func logAfterTraffic(sample: String?, probeSample: String? = nil) throws -> String {
        let data = TemporaryDirectory("esper-access-log")
        let redis = try RedisTestServer()
        guard case .unix(let socketPath) = redis.endpoint.address else { throw ServerProcess.StartFailure(port: 0) }
        let server = try ServerProcess(
            dataDirectory: data.path, redisURL: "unix://\(socketPath)", arguments: ["--log-level", "info"],
            environment: ["ESPER_ACCESS_LOG": "on"].merging(
                [("ESPER_ACCESS_LOG_SAMPLE", sample), ("ESPER_ACCESS_LOG_PROBE_SAMPLE", probeSample)].compactMap { name, value in
                    value.map { (name, $0) }
                }, uniquingKeysWith: { $1 }))
        defer { withExtendedLifetime((redis, data)) { server.terminate() } }
        try traffic(server.port)
        // The errors come last: once they are all in the log, anything before them is too.
        #expect(eventually(within: 20) { lines(server.log, "POST /api/v1/runs 400 ") == 5 })
        return server.log
    }

    @Test func sampleZeroLogsOnlyErrors() throws {
        let log = try Self.logAfterTraffic(sample: "0")
        #expect(Self.lines(log, "GET /api/v1/no-such-thing-") == 10)
        #expect(Self.lines(log, " 404 ") == 10)
        #expect(Self.lines(log, "GET /healthz ") == 0)
        #expect(Self.lines(log, "GET /api/v1/version 200") == 0)
    }

    @Test func sampleOneLogsEveryRequest() throws {
        let log = try Self.logAfterTraffic(sample: "1")
        #expect(Self.lines(log, "GET /healthz 200 ") == 30)
        #expect(Self.lines(log, "GET /api/v1/no-such-thing-") == 10)
        #expect(Self.lines(log, "GET /api/v1/version 200") >= 1)
    }

    @Test func byDefaultProbesAreSampledAndEverythingElseIsLogged() throws {
        // 1 % of 30 health checks is none; the errors are all there.
        let log = try Self.logAfterTraffic(sample: nil)
        #expect(Self.lines(log, "GET /healthz ") == 0)
        #expect(Self.lines(log, "GET /api/v1/no-such-thing-") == 10)
        #expect(Self.lines(log, "POST /api/v1/runs 400 ") == 5)
        let every = try Self.logAfterTraffic(sample: nil, probeSample: "1")
        #expect(Self.lines(every, "GET /healthz 200 ") == 30)
        let half = try Self.logAfterTraffic(sample: "1", probeSample: "0.5")
        #expect(Self.lines(half, "GET /healthz 200 ") == 15)
    }

    @Test func anInvalidSampleStopsTheServerWithTheVariablesName() throws {
        let directory = TemporaryDirectory("esper-access-log-config")
        for bad in ["1.5", "-0.1", "half"] {
            let result = try EsperBinary.run(
                ["serve", "--data-dir", directory.path + "/var"], environment: ["ESPER_ACCESS_LOG_SAMPLE": bad],
                workingDirectory: directory.path)
            #expect(result.status == 2)
            #expect(result.stderr.contains("ESPER_ACCESS_LOG_SAMPLE"))
        }
        let probe = try EsperBinary.run(
            ["serve", "--data-dir", directory.path + "/var"], environment: ["ESPER_ACCESS_LOG_PROBE_SAMPLE": "2"],
            workingDirectory: directory.path)
        #expect(probe.status == 2 && probe.stderr.contains("ESPER_ACCESS_LOG_PROBE_SAMPLE"))
        let slow = try EsperBinary.run(
            ["serve", "--data-dir", directory.path + "/var"], environment: ["ESPER_ACCESS_LOG_SLOW_MS": "-5"],
            workingDirectory: directory.path)
        #expect(slow.status == 2 && slow.stderr.contains("ESPER_ACCESS_LOG_SLOW_MS"))
    }
}
