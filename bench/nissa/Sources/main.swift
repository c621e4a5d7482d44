// Nissa benchmark: `/metrics` render time and `/grafana/query` latency with 100 metrics ×
// 10,000 points each (docs/performance.md). Measures the in-process cost of each handler
// (parse, answer from memory, encode) and the same requests over real HTTP on loopback
// (libmicrohttpd, keep-alive, one client).
// Usage: bench/nissa/run.sh [--iterations N]
import EsperAPI
import EsperHTTP
import EsperJSON
import Foundation
import Leyline
import Logging
import Nissa
import Prometheus

let metricsCount = 100
let pointsPerMetric = 10_000
var iterations = 2000
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    if argument == "--iterations", let value = arguments.next().flatMap(Int.init) { iterations = value }
}

func percentile(_ samples: [Double], _ p: Double) -> Double {
    let sorted = samples.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

func report(_ name: String, _ samples: [Double], bytes: Int) {
    print(
        String(
            format: "%-52@ p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms  (%d bytes, n=%d)", name as NSString,
            percentile(samples, 0.5), percentile(samples, 0.99), samples.max() ?? 0, bytes, samples.count))
}

func measure(_ count: Int, _ body: () throws -> Int) rethrows -> ([Double], Int) {
    var samples: [Double] = []
    samples.reserveCapacity(count)
    var bytes = 0
    for _ in 0..<count {
        let start = ContinuousClock.now
        bytes = try body()
        let elapsed = ContinuousClock.now - start
        samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
    }
    return (samples, bytes)
}

// MARK: fill

var logger = Logger(label: "bench")
logger.logLevel = .error
let registry = PrometheusCollectorRegistry()
var options = NissaOptions()
options.seriesMaxPoints = pointsPerMetric
options.seriesSpanSeconds = Double(pointsPerMetric * 2)
options.maxSeries = 1000
let nissa = NissaService(options: options, registry: registry, bus: nil, logger: logger)
let start = LeylineTimestamp.now().millisecondsSinceEpoch - Int64(pointsPerMetric) * 1000
let fillStart = ContinuousClock.now
for point in 0..<pointsPerMetric {
    let metrics = (0..<metricsCount).map {
        MetricPoint(
            name: "bench.metric_\($0).value", value: Double(point % 97) + Double($0) / 10,
            unit: "", attributes: ["run": "run-1"])
    }
    let time = LeylineTimestamp(nanosecondsSinceEpoch: (start + Int64(point) * 1000) * 1_000_000)
    nissa.ingest(
        .telemetry(TelemetryPacket(packetId: "b-\(point)", timestamp: time, sourceSubsystem: "tolaria", level: .info, metrics: metrics)))
}
let fill = ContinuousClock.now - fillStart
print(
    "# filled \(metricsCount) metrics x \(pointsPerMetric) points (\(nissa.store.seriesCount) series) by ingesting \(pointsPerMetric) packets in \(fill)"
)

// MARK: in process

let datasource = GrafanaDatasource(nissa: nissa)
let from = LeylineTimestamp(nanosecondsSinceEpoch: start * 1_000_000).rfc3339
let to = LeylineTimestamp.now().rfc3339
func queryBody(_ maxDataPoints: Int) -> [UInt8] {
    Array(
        #"{"range":{"from":"\#(from)","to":"\#(to)","raw":{"from":"now-3h","to":"now"}},"interval":"1s","intervalMs":1000,"maxDataPoints":\#(maxDataPoints),"targets":[{"target":"bench.metric_42.value","refId":"A","payload":{"run":"run-1"}}],"scopedVars":{},"filters":[]}"#
            .utf8)
}

for _ in 0..<50 { var buffer: [UInt8] = []; registry.emit(into: &buffer) }
let (render, renderBytes) = measure(iterations) {
    var buffer: [UInt8] = []
    buffer.reserveCapacity(16 * 1024)
    registry.emit(into: &buffer)
    return buffer.count
}
report("/metrics render (registry.emit), in process", render, bytes: renderBytes)
for maxPoints in [1000, 10_000] {
    let body = queryBody(maxPoints)
    let (samples, bytes) = try measure(iterations) { try datasource.query(try JSONValue.parse(body)).count }
    report("/grafana/query maxDataPoints \(maxPoints), in process", samples, bytes: bytes)
}
// Dashboard variables as the plugin interpolates them (regex format): one escaped name is
// matched without the regex engine; a multi-value runs it against every metric name and series.
for (label, target, run) in [
    ("escaped $metric/$run", #"bench\\.metric_42\\.value"#, #"run\\-1"#),
    ("multi-value regex $metric/$run", #"(bench\\.metric_42\\.value|bench\\.none)"#, #"(run\\-1|run\\-2)"#),
] {
    let body = Array(
        #"{"range":{"from":"\#(from)","to":"\#(to)"},"maxDataPoints":1000,"targets":[{"target":"\#(target)","refId":"A","payload":{"run":"\#(run)"}}]}"#
            .utf8)
    let (samples, bytes) = try measure(iterations) { try datasource.query(try JSONValue.parse(body)).count }
    report("/grafana/query maxDataPoints 1000, \(label), in process", samples, bytes: bytes)
}

// MARK: over HTTP

var handlers = OperationHandlers()
HealthRoutes.register(into: &handlers, probes: [], registry: registry, version: VersionInfo(version: "bench"))
GrafanaRoutes.register(into: &handlers, datasource: datasource)
// Only the health and Grafana part of the document: the operations given a handler here.
let router = try Router(
    document: try APIDocument.operations().filter { handlers.operationIds.contains($0.operationId) }, handlers: handlers)
var configuration = HTTPServerConfiguration()
configuration.port = 0
configuration.accessLog = false
let server = HTTPServer(configuration: configuration, router: router, logger: logger, metrics: nil)
try server.start()

/// One keep-alive connection: send a request, read one response (Content-Length bodies).
final class Client {
    let fd: Int32
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    init(port: UInt16) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
    func request(_ method: String, _ path: String, body: [UInt8] = []) -> Int {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if !body.isEmpty { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        let bytes = Array((head + "\r\n").utf8) + body
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received = 0
        var headerEnd = -1
        var contentLength = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + received, $0.count - received, 0) }
            guard n > 0 else { return -1 }
            received += n
            if headerEnd < 0 {
                for i in 0..<max(0, received - 3) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10
                {
                    headerEnd = i + 4
                    let head = String(decoding: buffer[0..<i], as: UTF8.self).lowercased()
                    if let range = head.range(of: "content-length: ") {
                        contentLength = Int(head[range.upperBound...].prefix { $0.isNumber }) ?? 0
                    }
                    break
                }
            }
            if headerEnd >= 0 && received >= headerEnd + contentLength { return contentLength }
        }
    }
}

let client = Client(port: server.port)
for _ in 0..<50 { _ = client.request("GET", "/metrics") }
let (httpRender, httpRenderBytes) = measure(iterations) { client.request("GET", "/metrics") }
report("GET /metrics over HTTP (keep-alive)", httpRender, bytes: httpRenderBytes)
for maxPoints in [1000, 10_000] {
    let body = queryBody(maxPoints)
    let (samples, bytes) = measure(iterations) { client.request("POST", "/grafana/query", body: body) }
    report("POST /grafana/query maxDataPoints \(maxPoints) over HTTP", samples, bytes: bytes)
}
server.stop()
