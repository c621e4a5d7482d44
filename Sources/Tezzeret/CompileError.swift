public import Karn

/// A compile that did not produce an artifact, with its error class (06 §9).
public struct CompileError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum ErrorClass: String, Sendable, Codable {
        /// Retrying cannot help: unknown id, bad parameters or shape, too large, a failed gate.
        case permanent
        /// I/O, timeouts, autotune disqualifying every candidate, injected failures.
        case retryable
    }

    public enum Reason: Sendable, Equatable {
        case notFound
        case invalidParameters([ParameterProblem])
        /// A shape rule failed; `parameter` names the template parameter behind it.
        case shapeInvalid(parameter: String?, message: String)
        case tooLarge(String)
        case gateFailed(gate: String, detail: String)
        case io(String)
        case timeout(seconds: Double)
        case autotuneDisqualified
        case injected
        case kernel(String)
        /// The job queue (Redis) did not take the job; nothing was compiled.
        case queueUnavailable(String)
    }

    public let blueprintId: String
    public let reason: Reason
    /// Attempts made before giving up.
    public var attempts: Int

    public init(_ blueprintId: String, _ reason: Reason, attempts: Int = 1) {
        self.blueprintId = blueprintId
        self.reason = reason
        self.attempts = attempts
    }

    public var errorClass: ErrorClass {
        switch reason {
        case .notFound, .invalidParameters, .shapeInvalid, .tooLarge, .gateFailed, .kernel: .permanent
        case .io, .timeout, .autotuneDisqualified, .injected, .queueUnavailable: .retryable
        }
    }

    /// A stable slug for APIs and telemetry.
    public var code: String {
        switch reason {
        case .notFound: "blueprint_not_found"
        case .invalidParameters: "invalid_parameters"
        case .shapeInvalid: "shape_invalid"
        case .tooLarge: "too_large"
        case .gateFailed: "gate_failed"
        case .io: "io_error"
        case .timeout: "timeout"
        case .autotuneDisqualified: "autotune_disqualified"
        case .injected: "injected_failure"
        case .kernel: "kernel_error"
        case .queueUnavailable: "queue_unavailable"
        }
    }

    public var description: String {
        let why: String
        switch reason {
        case .notFound: why = "not in the catalog"
        case .invalidParameters(let problems): why = problems.map(\.description).joined(separator: "; ")
        case .shapeInvalid(let parameter, let message): why = parameter.map { "\($0): \(message)" } ?? message
        case .tooLarge(let message): why = message
        case .gateFailed(let gate, let detail): why = "validation gate \(gate) failed: \(detail)"
        case .io(let message): why = "I/O: \(message)"
        case .timeout(let seconds): why = "timed out after \(seconds) s"
        case .autotuneDisqualified: why = "every kernel variant disagreed with the reference"
        case .injected: why = "simulated failure"
        case .kernel(let message): why = message
        case .queueUnavailable(let message): why = "the job queue did not take the job (\(message))"
        }
        return "failed to compile blueprint \(blueprintId): \(why)"
    }
}
