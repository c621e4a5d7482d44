internal import CKernels

/// One named slice of a kernel's parameter buffer.
public struct KernelTensor: Sendable, Equatable {
    public enum Initialisation: Sendable, Equatable {
        case zero
        case constant(Float)
        /// U(-scale / sqrt(fanIn), +scale / sqrt(fanIn)).
        case uniform(scale: Float, fanIn: Int)
    }

    public let name: String
    public let shape: [Int]
    /// Offset in floats from the start of the parameter buffer.
    public let offset: Int
    public let count: Int
    public let initialisation: Initialisation

    init(_ info: ck_seed_tensor) {
        var raw = info.name
        name = withUnsafeBytes(of: &raw) { bytes in
            String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let dims = [info.dims.0, info.dims.1, info.dims.2, info.dims.3].map(Int.init)
        shape = Array(dims.prefix(Int(info.ndim)))
        offset = info.offset
        count = info.count
        switch info.init_rule {
        case CK_INIT_ZERO.rawValue: initialisation = .zero
        case CK_INIT_CONST.rawValue: initialisation = .constant(info.init_value)
        default: initialisation = .uniform(scale: info.init_value, fanIn: Int(info.fan_in))
        }
    }
}
