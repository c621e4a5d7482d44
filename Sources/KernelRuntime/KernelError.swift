import Kernels

/// A kernel that cannot be built or run, naming what was wrong.
public enum KernelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The spec breaks a shape rule of its kind (C status and the spec as text).
    case invalidSpec(status: Int32, spec: String)
    /// Batch outside 1...`SeedKernel.maxBatch`.
    case invalidBatch(Int)
    /// An array argument of the wrong length.
    case wrongLength(argument: String, expected: Int, actual: Int)
    /// The C kernel returned an error while running (e.g. a deadlocking fault kernel).
    case failed(operation: String, status: Int32)
    /// `backward` without a preceding successful `forward`.
    case noForward

    public var description: String {
        switch self {
        case .invalidSpec(let status, let spec): "invalid kernel spec (\(KernelError.statusName(status))): \(spec)"
        case .invalidBatch(let batch): "batch \(batch) is outside 1...\(SeedKernel.maxBatch)"
        case .wrongLength(let argument, let expected, let actual): "\(argument) has \(actual) floats, expected \(expected)"
        case .failed(let operation, let status): "\(operation) failed: \(KernelError.statusName(status))"
        case .noForward: "backward needs a successful forward first"
        }
    }

    /// The call was stopped by the watchdog at its CPU deadline (`SeedKernel.cpuBudgetNanoseconds`).
    public var isTimeout: Bool {
        if case .failed(_, let status) = self { return status == KernelStatus.timeout }
        return false
    }

    static func statusName(_ status: Int32) -> String {
        switch status {
        case KernelStatus.nullPointer: "null pointer"
        case KernelStatus.size: "size"
        case KernelStatus.argument: "argument"
        case KernelStatus.deadlock: "deadlock detected"
        case KernelStatus.state: "no matching forward"
        case KernelStatus.timeout: "stopped at its CPU deadline"
        default: "status \(status)"
        }
    }
}
