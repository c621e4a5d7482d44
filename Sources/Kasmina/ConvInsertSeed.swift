import Karn
public import Kernels
public import Tolaria

/// The depth blueprints (Karn's `depth` family, `DepthCatalog`: BP057–BP058,
/// `conv-insert-3/5`): a residual conv1d layer grown after declared conv layer i of a conv
/// host, in `conv-slot-i`. The seed reads a detached copy of the slot's signal h
/// (`[length, channels]`) and adds α·s to the slot's output, s = conv(h) + b with h's channels,
/// 'same' padding and no activation — the `.preactivation` path of widening seeds applied to
/// the slot's own output, so every lifecycle stage keeps its meaning there. Its weights and
/// bias start at zero (s = 0: the host function until it has learned something). Like
/// widening, the kernel is shaped by the host; Kasmina builds it on `ck_conv1d_*`. Fossilised,
/// it becomes a host layer computing h + s (Tolaria's `insertConvolution`:
/// `HostArchitecture.insertions`).
public enum ConvInsertSeedBlueprint {
    /// Kernel kind recorded in a seed's origin.
    public static let kind = DepthCatalog.kind

    /// The shape of `blueprintId` in `conv-slot-<layer>` of `architecture`; nil for another
    /// blueprint or a conv layer the host lacks (an MLP host has none).
    public static func shape(_ blueprintId: String, convolution layer: Int, architecture: HostArchitecture) -> ConvInsertShape? {
        guard let entry = DepthCatalog.named(blueprintId), let output = architecture.convolutionOutput(after: layer) else { return nil }
        let shape = ConvInsertShape(
            after: layer, length: output.length, channels: output.channels, kernelSize: entry.kernelSize, blueprint: entry.alias)
        return shape.fits ? shape : nil
    }

    /// Parameters the blueprint adds in slot `slot` (a `conv-slot-<i>` name); nil when it is not
    /// a depth blueprint or cannot grow there (a dense slot, a conv layer the host lacks).
    public static func addedParameters(_ blueprintId: String, slot: String, architecture: HostArchitecture) -> Int? {
        guard let layer = SeedSlot.convolution(named: slot) else { return nil }
        return shape(blueprintId, convolution: layer, architecture: architecture)?.parameterCount
    }

    /// Why a run's `seeds.blueprints` entry cannot grow anywhere in the host (nil: it fits
    /// after one of its conv layers, or it is not a depth blueprint).
    public static func misfit(_ blueprintId: String, architecture: HostArchitecture) -> String? {
        guard DepthCatalog.named(blueprintId) != nil else { return nil }
        let layers = architecture.convolutions ?? []
        if layers.isEmpty { return "\(blueprintId) inserts a conv layer after a host conv layer; this host declares none (model.layers)" }
        guard !layers.indices.contains(where: { shape(blueprintId, convolution: $0, architecture: architecture) != nil }) else {
            return nil
        }
        return "\(blueprintId) fits none of the host's conv layers: nothing is left of their outputs"
    }
}

/// A depth seed's kernel over its own parameter block: s = conv(h) + b through
/// `ConvInsertRunner` (the same call the host layer makes once it is fossilised), weights and
/// bias zero at the start. Its input is detached: the backward never writes ∂L/∂h.
public final class ConvInsertSeed: SeedBranch {
    public let runner: ConvInsertRunner
    public let isResidual = true
    public var training = false
    public var step: UInt64 = 0

    public init(shape: ConvInsertShape, block: ParameterBlock) {
        precondition(block.count >= shape.parameterCount, "the seed's block is smaller than its kernel")
        runner = ConvInsertRunner(shape: shape, parameters: block.values, gradients: block.gradients)
        runner.initialiseToIdentity()
    }

    public var shape: ConvInsertShape { runner.shape }
    public var parameterCount: Int { shape.parameterCount }
    public var parameters: UnsafeMutablePointer<Float> { runner.parameters }
    public var gradients: UnsafeMutablePointer<Float> { runner.gradients }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws {
        try runner.forward(x, into: y, batch: batch)
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        try runner.backward(outputGradient, inputGradient: inputGradient)
    }
}
