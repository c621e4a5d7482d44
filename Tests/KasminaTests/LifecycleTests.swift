import Kasmina
import Leyline
import Testing

/// The transition table of 02-kasmina §1: every one of the 100 (from, to) pairs, the
/// reference's own paths, and the two edges the spec recommends adding.
@Suite struct LifecycleTests {
    static let reference: [SeedLifecycleStage: Set<SeedLifecycleStage>] = [
        .unknown: [.germinating, .cancelled],
        .germinating: [.grafting, .training, .cancelled],
        .grafting: [.stabilizing, .cancelled],
        .stabilizing: [.training, .cancelled],
        .training: [.evaluating, .fineTuning, .fossilized, .culling],
        .evaluating: [.fineTuning, .fossilized, .culling],
        .fineTuning: [.evaluating, .fossilized, .culling],
        .fossilized: [.culling],
        .culling: [.cancelled],
        .cancelled: [],
    ]

    /// A lifecycle standing in `stage` (reached through allowed edges).
    static func lifecycle(at stage: SeedLifecycleStage) throws -> SeedLifecycle {
        let paths: [SeedLifecycleStage: [SeedLifecycleStage]] = [
            .unknown: [], .germinating: [.germinating], .training: [.germinating, .training],
            .grafting: [.germinating, .grafting], .stabilizing: [.germinating, .grafting, .stabilizing],
            .evaluating: [.germinating, .training, .evaluating], .fineTuning: [.germinating, .training, .fineTuning],
            .fossilized: [.germinating, .training, .fossilized], .culling: [.germinating, .training, .culling],
            .cancelled: [.cancelled],
        ]
        var lifecycle = SeedLifecycle()
        for next in paths[stage] ?? [] { try lifecycle.transition(to: next) }
        #expect(lifecycle.stage == stage)
        return lifecycle
    }

    @Test func everyEdgeIsAllowedExactlyWhenTheTableSaysSo() throws {
        for from in SeedLifecycleStage.allCases {
            var expected = LifecycleTests.reference[from] ?? []
            if from == .training { expected.insert(.grafting) }
            if from == .stabilizing { expected.insert(.evaluating) }
            #expect(Lifecycle.allowedNext(from) == expected, "\(from.name)")
            for to in SeedLifecycleStage.allCases {
                var lifecycle = try LifecycleTests.lifecycle(at: from)
                let before = lifecycle
                if expected.contains(to) {
                    try lifecycle.transition(to: to, epoch: 7)
                    #expect(lifecycle.stage == to)
                    #expect(lifecycle.history.last == SeedLifecycle.Transition(from: from, to: to, epoch: 7))
                } else {
                    #expect(throws: LifecycleError(from: from, to: to)) { try lifecycle.transition(to: to) }
                    #expect(lifecycle == before, "a refused transition changes nothing")
                }
            }
        }
    }

    @Test func theAddedEdgesAreExactlyTheRecommendedTwo() {
        #expect(
            Lifecycle.addedEdges.map { "\($0.0.name)->\($0.1.name)" }
                == ["SEED_STAGE_TRAINING->SEED_STAGE_GRAFTING", "SEED_STAGE_STABILIZING->SEED_STAGE_EVALUATING"])
        var total = 0
        for (from, next) in Lifecycle.table { total += next.count - (LifecycleTests.reference[from]?.count ?? 0) }
        #expect(total == 2)
    }

    @Test func theReferencePathsWork() throws {
        var full = SeedLifecycle()
        for stage: SeedLifecycleStage in [
            .germinating, .grafting, .stabilizing, .training, .evaluating, .fineTuning, .evaluating,
            .fossilized, .culling, .cancelled,
        ] {
            try full.transition(to: stage)
        }
        var fast = SeedLifecycle()
        for stage: SeedLifecycleStage in [.germinating, .training, .culling, .cancelled] { try fast.transition(to: stage) }
        var direct = SeedLifecycle()
        try direct.transition(to: .cancelled)
        // The paper's order, with the added edges.
        var paper = SeedLifecycle()
        for stage: SeedLifecycleStage in [.germinating, .training, .grafting, .stabilizing, .evaluating, .fossilized] {
            try paper.transition(to: stage)
        }
        var unknownToTraining = SeedLifecycle()
        #expect(throws: LifecycleError.self) { try unknownToTraining.transition(to: .training) }
        #expect(
            LifecycleError(from: .unknown, to: .training).description == "Transition SEED_STAGE_UNKNOWN -> SEED_STAGE_TRAINING not allowed")
        #expect(Lifecycle.isTerminal(.cancelled) && !Lifecycle.isTerminal(.fossilized))
    }

    @Test func aRecordedHistoryIsReplayedEdgeByEdge() throws {
        var lifecycle = SeedLifecycle()
        try lifecycle.transition(to: .germinating, epoch: 1)
        try lifecycle.transition(to: .training, epoch: 1)
        try lifecycle.transition(to: .grafting, epoch: 4)
        #expect(try SeedLifecycle(history: lifecycle.history) == lifecycle)
        let forged = [
            SeedLifecycle.Transition(from: .unknown, to: .germinating, epoch: 0),
            SeedLifecycle.Transition(from: .germinating, to: .fossilized, epoch: 0),
        ]
        #expect(throws: LifecycleError(from: .germinating, to: .fossilized)) { try SeedLifecycle(history: forged) }
    }

    @Test func operationsMapOntoStages() {
        for stage in SeedLifecycleStage.allCases where stage != .unknown {
            let operation = Lifecycle.operation(into: stage)
            #expect(operation.flatMap(Lifecycle.target(of:)) == stage)
        }
    }
}
