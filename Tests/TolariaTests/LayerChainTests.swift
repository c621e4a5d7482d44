import Foundation
import Kernels
import Leyline
import Testing

@testable import Tolaria

/// The host as a chain of layers: the shadow pass runs the main pass's layers, and Tolaria
/// calls a module's capabilities only when the module declares them.
@Suite struct LayerChainTests {
    static let architecture = HostArchitecture(inputs: 6, hiddenSizes: [5, 4], classes: 3)
    static let x: [Float] = (0..<24).map { Float(($0 * 7) % 11) / 5 - 1 }
    static let labels: [Int32] = [0, 2, 1, 2]

    /// From slot-0's own activation, the shadow pass is the main pass: the same loss and the
    /// same gradient at the slot, bit for bit — and it writes no host gradient.
    @Test func aShadowPassFromTheSlotsActivationRepeatsTheMainPass() throws {
        let host = HostMLP(architecture: Self.architecture, maxBatch: 4, learningRate: 0.1, seed: 3)
        try Self.x.withUnsafeBufferPointer { _ = try host.forward($0.baseAddress!, batch: 4, training: true) }
        let main = try Self.labels.withUnsafeBufferPointer { try host.loss(labels: $0.baseAddress!, batch: 4) }
        try Self.labels.withUnsafeBufferPointer { try host.backward(labels: $0.baseAddress!, batch: 4, lossScale: 0.5) }
        // The slot is empty: hidden layer 0's output feeds layer 1, its gradient comes back there.
        let hidden = host.main.activations[host.slotIndices[0] - 1]
        let mainGradient = Array(UnsafeBufferPointer(start: hidden.outputGradient, count: 4 * 5))
        let hostGradients = Array(UnsafeBufferPointer(start: host.block.gradients, count: host.block.count))
        let shadow = try Self.labels.withUnsafeBufferPointer {
            try host.shadowPass(slot: 0, activation: hidden.output, labels: $0.baseAddress!, batch: 4, lossScale: 0.5)
        }
        #expect(shadow.loss.bitPattern == main.loss.bitPattern && shadow.correct == main.correct)
        #expect(Array(UnsafeBufferPointer(start: shadow.gradient, count: 4 * 5)).map(\.bitPattern) == mainGradient.map(\.bitPattern))
        #expect(Array(UnsafeBufferPointer(start: host.block.gradients, count: host.block.count)) == hostGradients)
        #expect(mainGradient.contains { $0 != 0 })
    }

    /// Implements every capability's members but declares none: Tolaria treats it as a plain
    /// module (its groups stepped with the host's, no shadow pass, no ablation, no seed states).
    final class UndeclaredModule: SeedSlotModule {
        let block = ParameterBlock(count: 4)
        lazy var group = ParameterGroup(name: "seed.undeclared", block: block, offset: 0, count: 4, learningRate: 0.1)
        var calls: [String] = []
        var kind: String { "test.undeclared" }
        var parameterGroups: [ParameterGroup] { [group] }
        func forward(input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, batch: Int, width: Int, training: Bool) throws {
            output.update(from: input, count: batch * width)
        }
        func backward(
            outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
            output: UnsafePointer<Float>, batch: Int, width: Int
        ) throws {
            inputGradient.update(from: outputGradient, count: batch * width)
        }
        func checkpointState() -> [UInt8] { [] }
        func restore(checkpointState: [UInt8]) throws {}
        var shadowActivation: UnsafePointer<Float>? {
            calls.append("shadowActivation")
            return nil
        }
        func optimizerStep(_ optimizer: Optimizer) throws { calls.append("optimizerStep") }
        var wantsAblation: Bool {
            calls.append("wantsAblation")
            return true
        }
        var seedStates: [SeedState] {
            calls.append("seedStates")
            return []
        }
    }

    @Test func undeclaredCapabilitiesAreNeverCalled() throws {
        let host = HostMLP(architecture: Self.architecture, maxBatch: 4, learningRate: 0.1, seed: 3)
        let module = UndeclaredModule()
        #expect(host.install(module, inSlot: "slot-1"))
        #expect(host.optimizedGroups.contains { $0 === module.group })
        #expect(host.selfSteppingModules.isEmpty)
        for capability: SeedModuleCapabilities in [.shadowTraining, .selfStepping, .ablation, .seedStates, .preactivation] {
            #expect(host.modules(with: capability).isEmpty)
        }
        try Self.x.withUnsafeBufferPointer { _ = try host.forward($0.baseAddress!, batch: 4, training: true) }
        try Self.labels.withUnsafeBufferPointer { try host.backward(labels: $0.baseAddress!, batch: 4) }
        #expect(module.calls.isEmpty)
    }
}
