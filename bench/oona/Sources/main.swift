// esper-bench-oona: benchmarks of the bus — Leyline encode/decode cost, publish throughput
// against redis-benchmark doing raw XADD on the same server, and publish→consume latency.
// Run through bench/oona/run.sh (release build). Figures go to docs/performance.md.
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
let mode = arguments.first ?? "all"
let useTCP = arguments.contains("--tcp")
if let index = arguments.firstIndex(of: "--pipeline"), index + 1 < arguments.count, let depth = Int(arguments[index + 1]), depth > 0 {
    BusBenchmark.pipeline = depth
}

// Pinned before any other thread starts (the consumer thread of the latency run inherits it).
if mode != "leyline" && mode != "prepare" && mode != "prepareloop" { CPUPinning.pinClient() }

switch mode {
case "ours":
    try BusBenchmark.withServer(tcp: false) { server in
        let client = try BusBenchmark.client(server)
        let rate = try BusBenchmark.publishRate(client) { .telemetry(BusBenchmark.telemetryPacket($0)) }
        print("ours: \(Int(rate)) msg/s")
    }
case "prepareloop":
    try LeylineBenchmark.prepareLoop()
case "prepare":
    try LeylineBenchmark.prepareCost()
case "leyline":
    LeylineBenchmark.run()
case "throughput":
    try BusBenchmark.withServer(tcp: useTCP) { try BusBenchmark.throughput($0) }
case "latency":
    try BusBenchmark.withServer(tcp: useTCP) { try BusBenchmark.latency($0) }
case "all":
    LeylineBenchmark.run()
    for tcp in [false, true] {
        try BusBenchmark.withServer(tcp: tcp) { server in
            try BusBenchmark.throughput(server)
            try BusBenchmark.latency(server)
        }
    }
default:
    print("usage: esper-bench-oona [leyline|throughput|latency|all] [--tcp]")
    exit(2)
}
