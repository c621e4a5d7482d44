/// One contiguous allocation of trainable floats with their gradients and optimizer moments
/// (llm.c style: a single buffer per model, sliced by offset). `firstMoment` doubles as SGD's
/// velocity. Memory is zeroed on allocation and freed with the block.
///
/// Not `Sendable`: a block belongs to the one training thread that owns its model.
public final class ParameterBlock {
    public let count: Int
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public let firstMoment: UnsafeMutablePointer<Float>
    public let secondMoment: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0)
        self.count = count
        func zeroed() -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        values = zeroed()
        gradients = zeroed()
        firstMoment = zeroed()
        secondMoment = zeroed()
    }

    deinit {
        values.deallocate()
        gradients.deallocate()
        firstMoment.deallocate()
        secondMoment.deallocate()
    }

    public func zeroGradients() { gradients.update(repeating: 0, count: count) }
}

/// A named slice of a block stepped together with its own learning rate (a seed's group gets
/// the host rate × 0.1 when Kasmina grafts it; a fossilised one is frozen). Frozen groups
/// still pass gradients through to earlier layers; only their update is skipped.
public final class ParameterGroup {
    public let name: String
    public let block: ParameterBlock
    public let offset: Int
    public let count: Int
    public var learningRate: Float
    public var frozen: Bool
    /// Optimizer updates applied so far (Adam's bias correction starts at 1 for each group).
    public var step: Int64 = 0

    public init(name: String, block: ParameterBlock, offset: Int, count: Int, learningRate: Float, frozen: Bool = false) {
        precondition(offset >= 0 && count >= 0 && offset + count <= block.count, "group \(name) outside its block")
        self.name = name
        self.block = block
        self.offset = offset
        self.count = count
        self.learningRate = learningRate
        self.frozen = frozen
    }

    public var values: UnsafeMutablePointer<Float> { block.values + offset }
    public var gradients: UnsafeMutablePointer<Float> { block.gradients + offset }
    public var firstMoment: UnsafeMutablePointer<Float> { block.firstMoment + offset }
    public var secondMoment: UnsafeMutablePointer<Float> { block.secondMoment + offset }
}
