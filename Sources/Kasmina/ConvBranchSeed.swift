import Karn
public import Kernels
import Leyline
public import Tolaria

/// The structural blueprints (Karn's `structure` family, `ConvBranchBlueprint`: BP054–BP056,
/// `conv-branch-8/16/25`): a conv branch grafted beside hidden layer l, reading a detached copy
/// of layer l's input as a one-channel signal and adding to layer l+1's pre-activation — the
/// `.preactivation` path of widening seeds, so every lifecycle stage keeps its meaning there.
/// Like widening, the kernel is shaped by the host; Kasmina builds it on `ck_conv_branch_*`.
/// Fossilised, it becomes a host branch (Tolaria's `addBranch`: `HostArchitecture.branches`).
public enum ConvBranchSeedBlueprint {
    /// Kernel kind recorded in a seed's origin.
    public static let kind = StructureCatalog.kind

    /// The shape of `blueprintId` at slot `layer` of `architecture`; nil for another blueprint,
    /// a slot the host lacks, or a host declared with conv layers (whose slots read flattened
    /// channels, not a signal).
    public static func shape(_ blueprintId: String, layer: Int, architecture: HostArchitecture) -> ConvBranchShape? {
        guard let entry = ConvBranchBlueprint.named(blueprintId), architecture.convolutions == nil, layer >= 0,
            architecture.widths.count > layer + 2
        else { return nil }
        return BranchSpec(blueprint: entry.alias, slot: SeedSlot.name(forLayer: layer)).resolved(widths: architecture.widths)
    }

    /// Parameters the blueprint adds at slot `layer`; nil when it is not a conv branch or does
    /// not fit there (the signal is too short for its kernels and strides: not a candidate).
    public static func addedParameters(_ blueprintId: String, layer: Int, architecture: HostArchitecture) -> Int? {
        guard let shape = shape(blueprintId, layer: layer, architecture: architecture), shape.fits else { return nil }
        return shape.parameterCount
    }

    /// Why a run's `seeds.blueprints` entry cannot grow anywhere in `slots` (nil: it fits one,
    /// or it is not a conv branch).
    /// A depth blueprint (`conv-insert-3`) is checked here too (`ConvInsertSeedBlueprint.misfit`):
    /// it is the other structural kind, and this is the one check run configs go through.
    public static func misfit(_ blueprintId: String, slots: [Int], architecture: HostArchitecture) -> String? {
        if DepthCatalog.named(blueprintId) != nil { return ConvInsertSeedBlueprint.misfit(blueprintId, architecture: architecture) }
        guard ConvBranchBlueprint.named(blueprintId) != nil else { return nil }
        if architecture.convolutions != nil { return "conv branches join MLP hosts only" }
        guard !slots.contains(where: { addedParameters(blueprintId, layer: $0, architecture: architecture) != nil }) else { return nil }
        let lengths = slots.compactMap { architecture.widths.indices.contains($0) ? architecture.widths[$0] : nil }
        return
            "\(blueprintId) needs a longer signal than the \(lengths.map(String.init).joined(separator: "/")) positions its slots' layers read: nothing is left after its kernels and strides"
    }
}

/// A conv-branch seed's kernel over its own parameter block: conv weights Kaiming-uniform
/// (deterministic from the seed id), biases zero, the linear map V zero — it adds nothing
/// until it has learned something, and then only through α.
public final class ConvBranchSeed: SeedBranch {
    public let runner: ConvBranchRunner
    public let isResidual = true
    public var training = false
    public var step: UInt64 = 0

    public init(shape: ConvBranchShape, block: ParameterBlock) {
        precondition(block.count >= shape.parameterCount, "the seed's block is smaller than its kernel")
        runner = ConvBranchRunner(shape: shape, parameters: block.values, gradients: block.gradients)
    }

    public var shape: ConvBranchShape { runner.shape }
    public var parameterCount: Int { shape.parameterCount }
    public var parameters: UnsafeMutablePointer<Float> { runner.parameters }
    public var gradients: UnsafeMutablePointer<Float> { runner.gradients }

    public func initialise(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: .initialisation)
        runner.initialise(&rng, zeroMap: true)
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws {
        try runner.forward(x, into: y, batch: batch)
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        try runner.backward(outputGradient, inputGradient: inputGradient)
    }
}
