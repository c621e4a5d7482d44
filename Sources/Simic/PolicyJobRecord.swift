import Foundation
public import TamiyoNetwork

/// What a remote worker (`esper worker`) sends back about a policy job it runs, on
/// `jobs.records` next to the run records: `running` when it starts, then the outcome —
/// `succeeded`/`rejected` with the result and, when the policy passed validation and is to be
/// published, the candidate weights (TamiyoNetwork's encoding, base64), or `failed` with the
/// error. The server applies it (`SimicService.apply`): its own publisher numbers, stores and
/// announces the policy, so versions stay unique whichever worker trained it.
public struct PolicyJobRecord: Sendable, Codable, Equatable {
    /// Tells a policy record from a run record on the shared stream.
    public var policyJob: String
    public var state: SimicJob.State
    public var worker: String
    public var result: SimicJobResult?
    public var weights: String?
    public var error: String?

    public init(
        policyJob: String, state: SimicJob.State, worker: String, result: SimicJobResult? = nil, weights: PolicyWeights? = nil,
        error: String? = nil
    ) {
        self.policyJob = policyJob
        self.state = state
        self.worker = worker
        self.result = result
        self.weights = weights.map { Data($0.encoded()).base64EncodedString() }
        self.error = error
    }
}
