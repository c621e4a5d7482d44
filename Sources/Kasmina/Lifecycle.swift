// Kasmina: the seed executor — it grafts blueprint kernels from Urza into Tolaria's seed slots,
// walks each seed through the Leyline lifecycle (this file holds the one transition table),
// computes the exact blended forward/backward of every stage, checks gradient isolation from
// real gradients every step, obeys PAUSE, and reports per-seed telemetry. It never decides
// what to graft: Tamiyo does.
public import Leyline

/// A transition the table does not allow; the seed's state is left unchanged.
public struct LifecycleError: Error, Sendable, Equatable, CustomStringConvertible {
    public let from: SeedLifecycleStage
    public let to: SeedLifecycleStage
    public init(from: SeedLifecycleStage, to: SeedLifecycleStage) {
        self.from = from
        self.to = to
    }
    public var description: String { "Transition \(from.name) -> \(to.name) not allowed" }
}

/// The seed lifecycle of 02-kasmina §1: the reference table exactly, plus the two edges the
/// spec recommends so the paper's order (train, then blend) is possible —
/// TRAINING → GRAFTING and STABILIZING → EVALUATING. EMBARGOED/RESETTING are not stages: a
/// culled slot carries an embargo instead (`SlotModule.embargoUntilEpoch`).
public enum Lifecycle {
    /// Every allowed transition; anything else is refused.
    public static let table: [SeedLifecycleStage: Set<SeedLifecycleStage>] = [
        .unknown: [.germinating, .cancelled],
        .germinating: [.grafting, .training, .cancelled],
        .grafting: [.stabilizing, .cancelled],
        .stabilizing: [.training, .evaluating, .cancelled],
        .training: [.grafting, .evaluating, .fineTuning, .fossilized, .culling],
        .evaluating: [.fineTuning, .fossilized, .culling],
        .fineTuning: [.evaluating, .fossilized, .culling],
        .fossilized: [.culling],
        .culling: [.cancelled],
        .cancelled: [],
    ]

    /// The two edges added to the reference table (02-kasmina §1, recommendation).
    public static let addedEdges: [(SeedLifecycleStage, SeedLifecycleStage)] = [(.training, .grafting), (.stabilizing, .evaluating)]

    public static func allowedNext(_ stage: SeedLifecycleStage) -> Set<SeedLifecycleStage> { table[stage] ?? [] }

    public static func isAllowed(_ from: SeedLifecycleStage, _ to: SeedLifecycleStage) -> Bool {
        allowedNext(from).contains(to)
    }

    /// Stages in which a seed is done: nothing it does can change any more.
    public static func isTerminal(_ stage: SeedLifecycleStage) -> Bool { stage == .cancelled }

    /// The seed operation that asks for a transition into `stage`.
    public static func operation(into stage: SeedLifecycleStage) -> SeedOperation? {
        switch stage {
        case .germinating: .germinate
        case .training: .startTraining
        case .grafting: .startGrafting
        case .stabilizing: .stabilize
        case .evaluating: .evaluate
        case .fineTuning: .fineTune
        case .fossilized: .fossilize
        case .culling: .cull
        case .cancelled: .cancel
        case .unknown: nil
        }
    }

    /// The stage a (non-germinate, non-cull) seed operation asks for.
    public static func target(of operation: SeedOperation) -> SeedLifecycleStage? {
        switch operation {
        case .startTraining: .training
        case .startGrafting: .grafting
        case .stabilize: .stabilizing
        case .evaluate: .evaluating
        case .fineTune: .fineTuning
        case .fossilize: .fossilized
        case .cull: .culling
        case .cancel: .cancelled
        case .germinate: .germinating
        case .unknown: nil
        }
    }
}

/// One seed's position in the lifecycle, with its history. Starts at UNKNOWN.
public struct SeedLifecycle: Sendable, Equatable {
    public private(set) var stage: SeedLifecycleStage = .unknown
    /// (from, to, epoch) of every transition taken.
    public private(set) var history: [Transition] = []

    public struct Transition: Sendable, Equatable, Codable {
        public let from: SeedLifecycleStage
        public let to: SeedLifecycleStage
        public let epoch: Int

        public init(from: SeedLifecycleStage, to: SeedLifecycleStage, epoch: Int) {
            self.from = from
            self.to = to
            self.epoch = epoch
        }
    }

    public init() {}

    /// Moves to `next` if the table allows it; otherwise throws and changes nothing.
    public mutating func transition(to next: SeedLifecycleStage, epoch: Int = 0) throws(LifecycleError) {
        guard Lifecycle.isAllowed(stage, next) else { throw LifecycleError(from: stage, to: next) }
        history.append(Transition(from: stage, to: next, epoch: epoch))
        stage = next
    }

    /// Rebuilds a lifecycle from its recorded history (checkpoint restore), checking every edge.
    public init(history: [Transition]) throws(LifecycleError) {
        for step in history {
            guard step.from == stage else { throw LifecycleError(from: stage, to: step.to) }
            try transition(to: step.to, epoch: step.epoch)
        }
    }
}
