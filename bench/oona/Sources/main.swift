import Leyline
import EsperJSON
import Foundation

func typicalPacket() -> SystemStatePacket {
    var seeds: [SeedState] = []
    for i in 0..<8 {
        seeds.append(SeedState(seedId: "seed-\(i)", stage: .training, gradientNorm: 0.18 + Float(i) * 0.01, learningRate: 0.002,
                               layerDepth: UInt32(i), metrics: ["loss": 0.321], ageEpochs: 4, riskScore: 0.1))
    }
    return SystemStatePacket(currentEpoch: 3, validationAccuracy: 0.82, validationLoss: 0.123, timestampNs: 1_758_000_000_000_000_000,
        hardwareContext: HardwareContext(deviceType: "cuda", deviceId: "0", totalMemoryGb: 24, availableMemoryGb: 12.5, temperatureCelsius: 61, utilizationPercent: 87, computeCapability: 86),
        trainingMetrics: ["loss": 0.456, "grad_norm": 0.12], seedStates: seeds, packetId: "run-epoch-3", globalStep: 1024, trainingLoss: 0.456,
        sourceSubsystem: "tolaria", trainingRunId: "run-demo", experimentName: "demo")
}
let p = typicalPacket()
if CommandLine.arguments.count > 1 {
    let fb = try LeylineCodec.encode(p)
    if CommandLine.arguments[1] == "enc" { for _ in 0..<300000 { _ = try LeylineCodec.encode(p) } }
    if CommandLine.arguments[1] == "dec" { for _ in 0..<300000 { _ = try LeylineCodec.decode(SystemStatePacket.self, from: fb) } }
    exit(0)
}
let bytes = try LeylineCodec.encode(p)
print("size", bytes.count)
print(String(decoding: bytes, as: UTF8.self))
let n = 20000
var t0 = ContinuousClock.now
for _ in 0..<n { _ = try LeylineCodec.encodeWithJansson(p) }
var e = ContinuousClock.now - t0
print("encode us", Double(e.components.attoseconds) / 1e12 / Double(n) + Double(e.components.seconds) * 1e6 / Double(n))
t0 = ContinuousClock.now
for _ in 0..<n { _ = try LeylineCodec.decodeWithJansson(SystemStatePacket.self, from: bytes) }
e = ContinuousClock.now - t0
print("decode us", Double(e.components.attoseconds) / 1e12 / Double(n) + Double(e.components.seconds) * 1e6 / Double(n))
t0 = ContinuousClock.now
for _ in 0..<n { _ = try JSONValue.parse(bytes) }
e = ContinuousClock.now - t0
print("parse-only us", Double(e.components.attoseconds) / 1e12 / Double(n) + Double(e.components.seconds) * 1e6 / Double(n))
let fastBytes = try LeylineCodec.encode(p)
print("identical to jansson:", fastBytes == (try LeylineCodec.encodeWithJansson(p)))
t0 = ContinuousClock.now
for _ in 0..<n { _ = try LeylineCodec.encode(p) }
e = ContinuousClock.now - t0
print("fast encode us", Double(e.components.attoseconds) / 1e12 / Double(n) + Double(e.components.seconds) * 1e6 / Double(n))
t0 = ContinuousClock.now
for _ in 0..<n { _ = try LeylineCodec.decode(SystemStatePacket.self, from: fastBytes) }
e = ContinuousClock.now - t0
print("fast decode us", Double(e.components.attoseconds) / 1e12 / Double(n) + Double(e.components.seconds) * 1e6 / Double(n))
print("equal:", try LeylineCodec.decode(SystemStatePacket.self, from: fastBytes) == p)

if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "enc" { for _ in 0..<300000 { _ = try LeylineCodec.encode(p) } }
if CommandLine.arguments.count > 1 && CommandLine.arguments[1] == "dec" { for _ in 0..<300000 { _ = try LeylineCodec.decode(SystemStatePacket.self, from: fastBytes) } }
