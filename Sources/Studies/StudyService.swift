// Studies: creates a study's runs through the run service, starts static_final controls when grown runs end, summarises.
public import EsperJSON
import EsperStorage
import Foundation
public import Logging
import Oona
public import Runs
import Synchronization
public import Tolaria

import enum Leyline.RFC3339

/// Why a study request was refused.
public enum StudyError: Error, Sendable, Equatable {
    /// Bad request body or run configs: every problem, each naming its field.
    case invalid([JSONFieldProblem])
    case notFound(String)
    case conflict(String)
    case unavailable(String)
}

/// The studies of this server: a study's runs are ordinary runs (`RunService.submit`, so any
/// worker takes them, and they appear in `/api/v1/runs` named `<group>/seed-<n>` with the
/// study id as `experiment_name`); which run is which lives in `<data>/studies/studies.db`. A
/// monitor thread creates what could not be created at once — static_final runs when their
/// grown run ends, members a crash left without a run — so a study survives restarts.
public final class StudyService: Sendable {
    public struct Options: Sendable {
        /// `<data>/studies`: `studies.db`.
        public var directory: String
        /// Runs one study may create at most.
        public var maxRuns: Int
        public var monitorInterval: Duration
        /// Finished runs' outcomes kept for summaries (all dropped when full: recomputed on demand).
        public var keptOutcomes: Int
        /// Curve samples of finished runs kept for curves, in all (~40 bytes each; dropped when full).
        public var keptCurveSamples: Int

        public init(
            directory: String, maxRuns: Int = 200, monitorInterval: Duration = .seconds(1), keptOutcomes: Int = 10_000,
            keptCurveSamples: Int = 1_000_000
        ) {
            self.directory = directory
            self.maxRuns = maxRuns
            self.monitorInterval = monitorInterval
            self.keptOutcomes = keptOutcomes
            self.keptCurveSamples = keptCurveSamples
        }
    }

    /// The seeds a run grafted, as Leyline stage names (nil: none known).
    public typealias SeedStages = @Sendable (_ runId: String) -> [String]?
    /// Where the server keeps a run's checkpoints (deleted with the run).
    public typealias CheckpointDirectory = @Sendable (_ runId: String) -> String?
    /// The germinations a run made (epoch, slot, blueprint of each seed it grafted; nil: its
    /// seed view is not known) — what a fixed_schedule control repeats.
    public typealias SeedGerminations = @Sendable (_ runId: String) -> [ScheduledGermination]?

    public let options: Options
    public let store: StudyStore
    let runs: RunService
    let seedStages: SeedStages
    let checkpointDirectory: CheckpointDirectory
    let seedGerminations: SeedGerminations
    let logger: Logger
    /// Serialises the creation of a study's missing runs (HTTP thread and monitor).
    private let tickLock = Mutex(())
    /// The monitor's thread.
    private let monitorThread = BackgroundThread(name: "studies-monitor")
    /// Outcomes of finished runs by run id: a finished run's record, epochs and seeds no longer
    /// change, so a summary reads its epoch history once, not at every request (a deleted run
    /// never reaches this: the summary lists it from its missing record).
    private let finishedOutcomes = Mutex<[String: RunOutcome]>([:])
    /// Curve samples of finished runs by run id (the curves read each run's history once), at
    /// most `options.keptCurveSamples` samples in all.
    private let finishedCurves = Mutex<(runs: [String: [CurveSample]], samples: Int)>(([:], 0))
    /// Event streams of studies' progress, fed each monitor round.
    public let feed = StudyProgressFeed()

    public init(
        options: Options, runs: RunService, logger: Logger, seedStages: @escaping SeedStages,
        checkpointDirectory: @escaping CheckpointDirectory, seedGerminations: @escaping SeedGerminations = { _ in nil }
    ) throws {
        self.options = options
        try AtomicFile.createDirectory(options.directory)
        store = try StudyStore(path: options.directory + "/studies.db")
        self.runs = runs
        self.logger = logger
        self.seedStages = seedStages
        self.checkpointDirectory = checkpointDirectory
        self.seedGerminations = seedGerminations
    }

    /// Starts the monitor (its first round at once: members a crash left behind get their runs).
    public func start() {
        monitorThread.startLoop(every: options.monitorInterval) { [self] in monitor() }
    }

    /// Ends the progress streams and stops the monitor, waiting up to `timeout` for a round in progress.
    public func stop(timeout: Duration = .seconds(5)) {
        monitorThread.requestStop()
        feed.finishAll()
        monitorThread.join(until: ContinuousClock.now + timeout)
    }

    func monitor() {
        do {
            for id in try store.ids(inState: .active) { try tick(id) }
        } catch {
            logger.debug("study monitor round skipped", metadata: ["error": "\(error)"])
        }
        feed.publish { [self] id in try? progress(id) }
    }

    // MARK: - Creating

    /// Validates the study and every run config it produces (all problems in one answer),
    /// records it and submits its runs. With an idempotency key already used, returns that study.
    public func create(_ json: JSONValue, idempotencyKey: String? = nil) throws(StudyError) -> StudySummary {
        do {
            if let key = idempotencyKey, let existing = try store.id(forIdempotencyKey: key) { return try summary(existing) }
        } catch let error as StudyError { throw error } catch { throw .unavailable("\(error)") }
        let (parsed, problems) = StudyRequest.parse(json)
        guard let request = parsed else { throw .invalid(problems) }
        if request.runCount > options.maxRuns {
            throw .invalid([
                JSONFieldProblem(
                    field: "seeds",
                    message:
                        "the study would create \(request.runCount) runs (\(request.seeds.count) seeds × (\(request.arms.count) arms × \(1 + request.controls.count) + \(request.fixed.count) fixed)); the limit is \(options.maxRuns)"
                )
            ])
        }
        let configProblems = validateConfigs(request)
        guard configProblems.isEmpty else { throw .invalid(configProblems) }
        let id = UUID().uuidString.lowercased()
        do {
            guard try store.create(id: id, request: request, plan: StudyPlanner.plan(request, studyId: id), idempotencyKey: idempotencyKey)
            else {
                guard let key = idempotencyKey, let existing = try store.id(forIdempotencyKey: key) else {
                    throw StudyError.unavailable("idempotency key conflict")
                }
                return try summary(existing)
            }
            logger.info("study created", metadata: ["study": "\(id)", "runs": "\(request.runCount)"])
            try tick(id)
            return try summary(id)
        } catch let error as StudyError { throw error } catch { throw .unavailable("cannot record the study: \(error)") }
    }

    /// Each arm's and fixed config's run config (first seed), and its no_growth variant, checked
    /// by the run service; problems named by where the field came from.
    func validateConfigs(_ request: StudyRequest) -> [JSONFieldProblem] {
        var problems: [JSONFieldProblem] = []
        let seed = request.seeds.first ?? 0
        func check(_ config: JSONValue, overrides: JSONValue, field: String) {
            do throws(RunConfigError) {
                _ = try runs.validate(config)
            } catch {
                for problem in error.problems {
                    let located = StudyPlanner.locate(problem, overrides: overrides, variantField: field)
                    if !problems.contains(located) { problems.append(located) }
                }
            }
        }
        for (index, arm) in request.arms.enumerated() {
            let merged = StudyPlanner.label(
                MergePatch.apply(arm.overrides, to: request.base), group: arm.name, seed: seed, studyId: "check")
            check(merged, overrides: arm.overrides, field: "arms[\(index)]")
            if request.controls.contains(.noGrowth) {
                check(StudyPlanner.withoutGrowth(merged), overrides: arm.overrides, field: "arms[\(index)]")
            }
            if request.controls.contains(.fixedSchedule), !StudyPlanner.grows(merged) {
                let located = StudyPlanner.locate(
                    JSONFieldProblem(field: "policy", message: "fixed_schedule repeats a grown run's germinations: the arm needs a policy"),
                    overrides: arm.overrides, variantField: "arms[\(index)]")
                if !problems.contains(located) { problems.append(located) }
            }
        }
        for (index, fixed) in request.fixed.enumerated() {
            let merged = StudyPlanner.label(
                MergePatch.apply(fixed.overrides, to: request.base), group: fixed.name, seed: seed, studyId: "check")
            check(merged, overrides: fixed.overrides, field: "fixed[\(index)]")
        }
        return problems
    }

    /// Creates the runs a study's members still lack: every member with a config at once, a
    /// static_final member when its grown run has ended. Idempotency keys per member make a
    /// repeat (after a crash between submitting and recording) return the same run.
    func tick(_ studyId: String) throws {
        try tickLock.withLock { _ throws in
            guard let study = try store.study(studyId), study.state == .active else { return }
            let members = try store.members(studyId)
            for member in members where member.runId == nil && member.error == nil {
                let key = "study:\(studyId):\(member.group):\(member.seed)"
                var config = member.config
                if member.kind == .staticFinal || member.kind == .fixedSchedule {
                    config = try controlConfig(for: member, members: members, studyId: studyId)
                }
                guard let config else { continue }
                let record: RunRecord
                do throws(RunSubmissionError) {
                    record = try runs.submit(config, idempotencyKey: key)
                } catch {
                    switch error {
                    case .invalid(let invalid):
                        try store.fail(studyId: studyId, group: member.group, seed: member.seed, error: "run config refused: \(invalid)")
                    case .storage(let reason):
                        logger.warning("study run not created yet", metadata: ["study": "\(studyId)", "error": "\(reason)"])
                    }
                    continue
                }
                try store.attach(studyId: studyId, group: member.group, seed: member.seed, runId: record.id, config: config)
            }
        }
    }

    /// A static_final or fixed_schedule member's config once its grown run has succeeded (nil
    /// while it runs); a grown run without a usable end fails the member.
    private func controlConfig(for member: StudyMember, members: [StudyMember], studyId: String) throws -> JSONValue? {
        func fail(_ error: String) throws -> JSONValue? {
            try store.fail(studyId: studyId, group: member.group, seed: member.seed, error: error)
            return nil
        }
        guard let grown = members.first(where: { $0.kind == .arm && $0.arm == member.arm && $0.seed == member.seed }) else {
            return nil
        }
        if let error = grown.error { return try fail("the grown run got no run: \(error)") }
        guard let grownId = grown.runId, let grownConfig = grown.config else { return nil }
        guard let record = try runs.run(grownId) else { return try fail("the grown run \(grownId) was deleted") }
        guard record.status.isFinished else { return nil }
        guard record.status == .succeeded else {
            return try fail("the grown run \(grownId) ended \(record.status.rawValue): nothing to repeat")
        }
        if member.kind == .fixedSchedule {
            guard let germinations = seedGerminations(grownId) ?? (record.config.effectivePolicy == .none ? [] : nil) else {
                return try fail("the grown run \(grownId) has no seed view: its germinations are unknown")
            }
            return StudyPlanner.fixedSchedule(
                from: grownConfig, germinations: germinations, group: member.group, seed: member.seed, studyId: studyId)
        }
        let widths = FinalArchitecture.hiddenSizes(configured: record.config.model.hiddenSizes, latest: record.latestMetrics)
        return StudyPlanner.staticFinal(
            from: grownConfig, hiddenSizes: widths, branches: FinalArchitecture.branches(latest: record.latestMetrics),
            group: member.group, seed: member.seed, studyId: studyId)
    }

    // MARK: - Reading

    /// Progress and status from the members' run records (no epoch histories: cheap enough
    /// for every monitor round); the records, for callers that need more.
    func tally(
        _ study: StoredStudy, _ members: [StudyMember]
    ) throws -> (
        progress: StudyProgress, status: String, records: [String: RunRecord]
    ) {
        var progress = StudyProgress(planned: members.count, pending: 0)
        var records: [String: RunRecord] = [:]
        var finished = true
        var lastProgressNs = study.createdNs
        for member in members {
            guard let runId = member.runId else {
                if member.error != nil {
                    progress.notCreated += 1
                } else {
                    progress.pending += 1
                    finished = false
                }
                continue
            }
            guard let record = try runs.run(runId) else { continue }  // deleted: listed as such by the summary
            records[runId] = record
            progress.epochsDone += record.epoch
            progress.epochsPlanned += record.epochs
            lastProgressNs = max(lastProgressNs, record.latestMetrics?.timestampNs ?? 0)
            switch record.status {
            case .queued: progress.queued += 1
            case .running: progress.running += 1
            case .paused: progress.paused += 1
            case .succeeded: progress.succeeded += 1
            case .failed: progress.failed += 1
            case .cancelled: progress.cancelled += 1
            }
            if !record.status.isFinished { finished = false }
        }
        progress.lastProgressAt = RFC3339.format(unixNanoseconds: lastProgressNs)
        return (progress, StudyService.status(study.state, finished: finished), records)
    }

    /// The study's status and progress (what its event stream sends).
    public func progress(_ id: String) throws -> StudyProgressEvent {
        guard let study = try store.study(id) else { throw StudyError.notFound("no study \(id)") }
        let (progress, status, _) = try tally(study, try store.members(id))
        return StudyProgressEvent(studyId: id, name: study.name, status: status, state: study.state, progress: progress)
    }

    public func summary(_ id: String) throws -> StudySummary {
        guard let study = try store.study(id) else { throw StudyError.notFound("no study \(id)") }
        let members = try store.members(id)
        let (progress, status, records) = try tally(study, members)
        var groups: [StudyGroupSummary] = []
        for member in members {
            if !groups.contains(where: { $0.name == member.group }) {
                groups.append(
                    StudyGroupSummary(
                        name: member.group, kind: member.kind, arm: member.arm, planned: 0, statistics: GroupStatistics([]), runs: [],
                        failed: []))
            }
            let index = groups.firstIndex { $0.name == member.group }!
            groups[index].planned += 1
            guard let runId = member.runId else {
                if let error = member.error {
                    groups[index].failed.append(StudyRunProblem(runId: nil, seed: member.seed, status: "not_created", error: error))
                }
                continue
            }
            guard let record = records[runId] else {
                groups[index].failed.append(
                    StudyRunProblem(runId: runId, seed: member.seed, status: "deleted", error: "the run was deleted"))
                continue
            }
            if record.status == .failed || record.status == .cancelled {
                groups[index].failed.append(
                    StudyRunProblem(runId: runId, seed: member.seed, status: record.status.rawValue, error: record.error))
            }
            groups[index].runs.append(try outcome(of: record, seed: member.seed))
        }
        for index in groups.indices {
            groups[index].statistics = GroupStatistics(groups[index].runs.filter { $0.status == .succeeded })
        }
        var verdicts: [ArmVerdicts] = []
        for arm in groups where arm.kind == .arm {
            for control in groups where (control.arm == arm.name && control.kind != .arm) || control.kind == .fixed {
                verdicts.append(ArmVerdicts(arm: arm, control: control))
            }
        }
        return StudySummary(
            id: study.id, name: study.name, status: status, state: study.state,
            createdAt: RFC3339.format(unixNanoseconds: study.createdNs), request: study.request, progress: progress, groups: groups,
            verdicts: verdicts)
    }

    /// What the run contributes: computed from its epoch history, kept once the run finished.
    func outcome(of record: RunRecord, seed: UInt64) throws -> RunOutcome {
        if record.status.isFinished, let kept = finishedOutcomes.withLock({ $0[record.id] }), kept.seed == seed { return kept }
        let history = try runs.registry.epochs(record.id)
        let outcome = RunOutcome(
            record: record, seed: seed, epochs: history, seedStages: seedStages(record.id) ?? RunOutcome.seedStages(from: history),
            hostParameters: { [self] widths in hostParameters(record.config, widths) })
        if record.status.isFinished {
            finishedOutcomes.withLock { kept in
                if kept.count >= options.keptOutcomes { kept.removeAll() }
                kept[record.id] = outcome
            }
        }
        return outcome
    }

    static func status(_ state: StudyState, finished: Bool) -> String {
        if state == .stopped { return "stopped" }
        if finished { return "completed" }
        return state == .paused ? "paused" : "running"
    }

    func hostParameters(_ config: RunConfig, _ widths: [Int]) -> Int? {
        // The run service keeps data-set shapes (`DatasetShapeCache`): no load per run.
        guard let shape = try? runs.datasetShape(of: config) else { return nil }
        // The run's host (conv layers included) with these dense widths.
        var architecture = HostArchitecture(model: config.model, inputs: shape.inputs, classes: shape.classes)
        architecture.hiddenSizes = widths
        return architecture.parameterCount
    }

    public func list(limit: Int, cursor: Int64?) throws -> (items: [StudyListItem], nextCursor: Int64?) {
        let page = try store.list(before: cursor, limit: limit)
        let items = try page.studies.map { study in
            let (progress, status, _) = try tally(study, try store.members(study.id))
            return StudyListItem(
                id: study.id, name: study.name, status: status, state: study.state,
                createdAt: RFC3339.format(unixNanoseconds: study.createdNs), progress: progress)
        }
        return (items, page.more ? page.studies.last?.seq : nil)
    }

    public func curves(_ id: String, metric: CurveMetric) throws -> StudyCurves {
        guard try store.study(id) != nil else { throw StudyError.notFound("no study \(id)") }
        var order: [String] = []
        var histories: [String: (kind: StudyGroupKind, arm: String?, runs: [[CurveSample]])] = [:]
        for member in try store.members(id) {
            if histories[member.group] == nil {
                order.append(member.group)
                histories[member.group] = (member.kind, member.arm, [])
            }
            guard let runId = member.runId, let status = try runs.run(runId)?.status, status != .failed, status != .cancelled else {
                continue
            }
            histories[member.group]?.runs.append(try curveSamples(runId, finished: status.isFinished))
        }
        return StudyCurves(
            studyId: id, metric: metric,
            groups: order.compactMap { name in
                histories[name].map { GroupCurve(name: name, kind: $0.kind, arm: $0.arm, metric: metric, histories: $0.runs) }
            })
    }

    /// A run's curve samples: read from its epoch history, kept once the run finished.
    func curveSamples(_ runId: String, finished: Bool) throws -> [CurveSample] {
        if finished, let kept = finishedCurves.withLock({ $0.runs[runId] }) { return kept }
        let samples = try runs.registry.epochs(runId).map(CurveSample.init)
        // A history larger than the whole allowance is never kept.
        if finished && samples.count <= options.keptCurveSamples {
            finishedCurves.withLock { kept in
                if kept.samples + samples.count > options.keptCurveSamples { kept = ([:], 0) }
                if kept.runs.updateValue(samples, forKey: runId) == nil { kept.samples += samples.count }
            }
        }
        return samples
    }

    // MARK: - Controls

    /// Pauses the study's queued and running runs; no static_final run starts while paused.
    public func pause(_ id: String) throws -> StudySummary {
        try control(id, state: .paused) { record in
            if record.status == .queued || record.status == .running { _ = try runs.pause(record.id) }
        }
    }

    /// Resumes the study's paused runs and lets it create its pending runs again.
    public func resume(_ id: String) throws -> StudySummary {
        _ = try control(id, state: .active) { record in
            if record.status == .paused { _ = try runs.resume(record.id) }
        }
        try tick(id)
        return try self.summary(id)
    }

    /// Stops every unfinished run of the study; pending members get no run.
    public func stop(_ id: String) throws -> StudySummary {
        try control(id, state: .stopped) { record in
            if !record.status.isFinished { _ = try runs.stop(record.id) }
        }
    }

    private func control(_ id: String, state: StudyState, _ apply: (RunRecord) throws -> Void) throws -> StudySummary {
        guard let study = try store.study(id) else { throw StudyError.notFound("no study \(id)") }
        if study.state == .stopped && state != .stopped {
            throw StudyError.conflict("study \(id) is stopped; a stopped study cannot be \(state == .paused ? "paused" : "resumed")")
        }
        try store.setState(id, state)
        for member in try store.members(id) {
            guard let runId = member.runId, let record = try runs.run(runId) else { continue }
            do { try apply(record) } catch RunControlError.conflict {
                // The run changed state meanwhile (finished, already paused): nothing to do.
            } catch RunControlError.unavailable(let message) {
                throw StudyError.unavailable(message)
            }
        }
        return try summary(id)
    }

    /// Deletes the study and its runs (records and checkpoints); refused while any of its runs
    /// is running (pause or stop the study first). Queued and paused runs are stopped first.
    public func delete(_ id: String) throws {
        try tickLock.withLock { _ throws in
            guard try store.study(id) != nil else { throw StudyError.notFound("no study \(id)") }
            let members = try store.members(id)
            let records = try members.compactMap { member in try member.runId.flatMap { try runs.run($0) } }
            if let running = records.first(where: { $0.status == .running }) {
                throw StudyError.conflict("run \(running.id) of study \(id) is running; pause or stop the study first")
            }
            try store.setState(id, .stopped)
            for record in records {
                if !record.status.isFinished {
                    do { _ = try runs.stop(record.id) } catch RunControlError.conflict {}
                }
                do { try runs.delete(record.id, checkpointDirectory: checkpointDirectory(record.id)) } catch RunControlError.notFound {}
            }
            try store.delete(id)
            finishedOutcomes.withLock { kept in for record in records { kept[record.id] = nil } }
            finishedCurves.withLock { kept in
                for record in records { kept.samples -= kept.runs.removeValue(forKey: record.id)?.count ?? 0 }
            }
            logger.info("study deleted", metadata: ["study": "\(id)", "runs": "\(records.count)"])
        }
    }
}
