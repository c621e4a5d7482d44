public import Kernels

/// What the controller may ask for at an epoch boundary. Tolaria applies the decisions in
/// order, inside the timed boundary.
public enum EpochDecision {
    case setLearningRate(group: String, learningRate: Float)
    case setFrozen(group: String, frozen: Bool)
    /// Graft a module into a slot (Kasmina builds it), or empty the slot with nil.
    case install(module: (any SeedSlotModule)?, slot: String)
    /// End the run after this epoch (it succeeds with what it has).
    case stop(reason: String)
    /// Make hidden layer `layer` wider by the given units (a fossilised widening seed): the
    /// host is rebuilt with the same function, its parameters, moments and group state kept.
    case widen(layer: Int, units: WideningUnits)
    /// Make a conv branch part of the host (a fossilised structural seed) with these parameter
    /// values: the host is rebuilt with one more branch, same function, everything else kept.
    case addBranch(ConvBranchShape, values: [Float])
    /// Make an inserted conv layer part of the host (a fossilised depth seed) with these
    /// parameter values: the host is rebuilt with one more layer after a declared conv layer,
    /// same function, everything else kept.
    case insertConvolution(ConvInsertShape, values: [Float])
}

/// What the controller sees at an epoch boundary.
public struct EpochState {
    public let summary: EpochSummary
    public let slots: [SeedSlot]
    public let parameterGroups: [ParameterGroup]
    /// The host's current shape (widening changes it).
    public let architecture: HostArchitecture
}

/// The end-of-epoch hook (Tamiyo plugs in here). Runs synchronously on the training thread
/// after the validation pass; its time counts against the 18 ms epoch-boundary budget. An
/// error is reported as a `controller_error` event and training goes on.
public protocol EpochController: AnyObject {
    func endOfEpoch(_ state: EpochState) throws -> [EpochDecision]
    /// Rebuilds the modules a checkpoint names (nil: the controller grafts none). A controller
    /// that is a `SeedModuleFactory` is its own.
    var moduleFactory: (any SeedModuleFactory)? { get }
    /// Germinations the controller has issued in this run: checkpoints carry the count so a run
    /// resumed after a crash keeps `max_germinations` (a grown seed that became part of the host
    /// leaves no seed behind to count).
    var germinationCount: Int { get }
    /// Takes the count back from the checkpoint a run resumes from.
    func resumeGerminationCount(_ count: Int)
}

extension EpochController {
    public var moduleFactory: (any SeedModuleFactory)? { nil }
    public var germinationCount: Int { 0 }
    public func resumeGerminationCount(_ count: Int) {}
}

extension EpochController where Self: SeedModuleFactory {
    public var moduleFactory: (any SeedModuleFactory)? { self }
}

/// The default: never changes anything.
public final class NoOpEpochController: EpochController {
    public init() {}
    public func endOfEpoch(_ state: EpochState) throws -> [EpochDecision] { [] }
}

/// How the run's owner steers a trainer between batches.
public enum TrainingDirective: Sendable, Equatable {
    case proceed
    /// End the run now (cancelled by a user).
    case stop
    /// Leave the run resumable (server shutdown): stop without finishing it.
    case suspend
}

/// Consulted between batches. `batchBoundary` may block while the run is paused — it runs on
/// the training thread, never on an HTTP thread.
public protocol TrainingControl: Sendable {
    func batchBoundary() -> TrainingDirective
    /// Consulted after each epoch's checkpoint decision: `.suspend` here ends the run at a
    /// clean boundary with a checkpoint of exactly this epoch (a pause on a worker: nothing
    /// trained is lost), `.stop` cancels it. The default proceeds.
    func epochBoundary() -> TrainingDirective
}

extension TrainingControl {
    public func epochBoundary() -> TrainingDirective { .proceed }
}

/// Runs to the end.
public struct UninterruptedTraining: TrainingControl {
    public init() {}
    public func batchBoundary() -> TrainingDirective { .proceed }
}
