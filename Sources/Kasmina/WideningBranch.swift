import Karn
public import Kernels
public import Tolaria

/// The widening blueprints (Net2Net-style growth of a host layer): each adds `units` hidden
/// units beside hidden layer l. They are Karn templates (`WideningCatalog`: BP051-BP053, aliases
/// `widen-4/8/16`), but not compiled by Tezzeret into Urza — the shape depends on the host
/// (layer l's input width and the next layer's width), known only at germination — so Kasmina
/// builds them here on the `ck_widen_*` C kernels.
public enum WideningBlueprint {
    /// Kernel kind recorded in a seed's origin.
    public static let kind = WideningCatalog.kind
    /// Alias → units added (the names `seeds.blueprints` uses).
    public static let catalog: [(id: String, units: Int)] = WideningCatalog.entries.map { ($0.alias, $0.units) }

    /// Units of a widening blueprint by alias (`widen-8`) or template id (`BP052`).
    public static func units(_ blueprintId: String) -> Int? { WideningCatalog.units(blueprintId) }

    /// Parameters a widening of `units` adds to a layer reading `inputs` and feeding `outputs`.
    public static func parameters(units: Int, inputs: Int, outputs: Int) -> Int {
        Kernels.wideningParameterCount(inputs: inputs, units: units, outputs: outputs)
    }
}

/// Shape of a widening kernel: layer l's input width, the units, the next layer's width.
public struct WideningShape: Sendable, Equatable, Codable {
    public var inputs: Int
    public var units: Int
    public var outputs: Int

    public init(inputs: Int, units: Int, outputs: Int) {
        self.inputs = inputs
        self.units = units
        self.outputs = outputs
    }

    public var parameterCount: Int { WideningBlueprint.parameters(units: units, inputs: inputs, outputs: outputs) }

    /// The fossilised seed as host units: U, c and V read from its parameter buffer.
    public func units(from parameters: UnsafePointer<Float>) -> WideningUnits {
        let u = units * inputs
        return WideningUnits(
            units: units, incoming: Array(UnsafeBufferPointer(start: parameters, count: u)),
            bias: Array(UnsafeBufferPointer(start: parameters + u, count: units)),
            outgoing: Array(UnsafeBufferPointer(start: parameters + u + units, count: outputs * units)))
    }
}

/// A widening seed's kernel: s[batch, outputs] = relu(x U^T + c) V^T over the detached copy
/// of layer l's input, with its parameters in the seed's own block. U starts Kaiming-uniform
/// (deterministic from the seed id), c and V at zero — so the seed adds nothing until it has
/// learned something, and even then only through α.
public final class WideningBranch: SeedBranch {
    public let shape: WideningShape
    public let parameters: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public let isResidual = true
    public var training = false
    public var step: UInt64 = 0
    private var capacity = 0
    private var u: UnsafeMutablePointer<Float>
    private var du: UnsafeMutablePointer<Float>
    private var input: UnsafePointer<Float>?
    private var batch = 0

    public init(shape: WideningShape, block: ParameterBlock) {
        precondition(block.count >= shape.parameterCount, "the seed's block is smaller than its kernel")
        self.shape = shape
        parameters = block.values
        gradients = block.gradients
        u = .allocate(capacity: 1)
        du = .allocate(capacity: 1)
    }

    deinit {
        u.deallocate()
        du.deallocate()
    }

    public var parameterCount: Int { shape.parameterCount }

    /// U ~ U(±√(6/inputs)) from `seed`, c = 0, V = 0.
    public func initialise(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: .initialisation)
        rng.initialiseWeights(
            parameters, count: shape.units * shape.inputs, fanIn: shape.inputs, fanOut: shape.units, scheme: .kaimingUniform)
        (parameters + shape.units * shape.inputs).update(repeating: 0, count: shape.units + shape.outputs * shape.units)
    }

    public func forward(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, batch: Int) throws {
        if batch > capacity {
            u.deallocate()
            du.deallocate()
            u = .allocate(capacity: batch * shape.units)
            du = .allocate(capacity: batch * shape.units)
            capacity = batch
        }
        input = x
        self.batch = batch
        try Kernels.wideningForward(
            output: y, hidden: u, input: x, parameters: parameters, batch: batch, inputs: shape.inputs, units: shape.units,
            outputs: shape.outputs)
    }

    public func backward(_ outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?) throws {
        guard let input else { return }
        try Kernels.wideningBackward(
            parameterGradient: gradients, inputGradient: inputGradient, hiddenGradient: du, outputGradient: outputGradient,
            input: input, hidden: u, parameters: parameters, batch: batch, inputs: shape.inputs, units: shape.units,
            outputs: shape.outputs)
    }
}
