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

// With --pin: pinned before any other thread starts (the latency consumer thread inherits it).
CPUPinning.enabled = arguments.contains("--pin")
if let index = arguments.firstIndex(of: "--clients"), index + 1 < arguments.count, let clients = Int(arguments[index + 1]), clients > 0 {
    BusBenchmark.clients = clients
}
if let index = arguments.firstIndex(of: "--rounds"), index + 1 < arguments.count, let rounds = Int(arguments[index + 1]), rounds > 0 {
    BusBenchmark.rounds = rounds
}
if mode != "leyline" && mode != "prepare" { CPUPinning.pinClient() }

switch mode {
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
    try LeylineBenchmark.prepareCost()
    for tcp in [false, true] {
        try BusBenchmark.withServer(tcp: tcp) { server in
            try BusBenchmark.throughput(server)
            try BusBenchmark.latency(server)
        }
    }
default:
    print("usage: esper-bench-oona [leyline|prepare|throughput|latency|all] [--tcp] [--pipeline N] [--clients N] [--rounds N] [--pin]")
    exit(2)
}
