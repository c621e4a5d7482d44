public import Foundation
public import Leyline
public import TamiyoNetwork

/// Runs one training job start to finish — sample, split, PPO, validate, publish — with no
/// queue or thread of its own, so the service's thread runner and (later) a worker on the
/// `jobs.policy` stream call the same function.
public enum SimicJobRunner {
    public static func run(
        _ job: SimicJob, buffer: FieldReportReplayBuffer, initial: PolicyWeights, publisher: PolicyPublisher?,
        telemetry: (TelemetryPacket) -> Void, now: Double = Date().timeIntervalSince1970
    ) throws -> SimicJobResult {
        let (unpublished, candidate) = try train(job, buffer: buffer, initial: initial, telemetry: telemetry, now: now)
        var result = unpublished
        if result.validation.passed && job.settings.publish, let publisher {
            let published = try publisher.publish(candidate.values, config: candidate.config, jobId: job.id, validation: result.validation)
            result.apply(published)
        }
        return result
    }

    /// Sample, split, PPO, validate — everything but publication: the result (not yet
    /// published) and the candidate weights. A remote worker sends both back to the server,
    /// whose publisher numbers, stores and announces the policy (`SimicService.apply`).
    public static func train(
        _ job: SimicJob, buffer: FieldReportReplayBuffer, initial: PolicyWeights,
        telemetry: (TelemetryPacket) -> Void, now: Double = Date().timeIntervalSince1970
    ) throws -> (SimicJobResult, PolicyWeights) {
        let s = job.settings
        buffer.expire(now: now)
        let experiences = s.sampleSize > 0 ? buffer.sample(s.sampleSize, seed: s.seed) : buffer.all
        let (train, holdout) = split(experiences, fraction: s.holdoutFraction, seed: s.seed)
        let trainer = PPOTrainer(initial: initial, settings: s)
        let history = trainer.train(train) { metrics in
            telemetry(updatePacket(job.id, metrics))
        }
        let candidate = try trainer.weights(version: "candidate-\(job.id.prefix(8))")
        let evaluation = trainer.evaluate(
            holdout.isEmpty ? train : holdout, against: initial, supported: PPOTrainer.loggedActions(train),
            shares: PPOTrainer.actionShares(train))
        var validation = PolicyValidator.validate(
            evaluation, thresholds: s.validation, trainingReports: train.count, weightsFinite: candidate.values.allSatisfy(\.isFinite))
        // Whatever the thresholds allow (`min_reports: 0`), a policy trained on nothing, or
        // one that is the policy in force again, is never published.
        if train.isEmpty { validation.reasons.append("no training reports: the policy was trained on nothing") }
        if candidate.values == initial.values {
            validation.reasons.append("the trained weights equal the policy in force (\(initial.policyVersion)): nothing was learned")
        }
        validation.passed = validation.reasons.isEmpty
        telemetry(validationPacket(job.id, validation))
        let result = SimicJobResult(
            trainingReports: train.count, holdoutReports: holdout.count,
            trainingSteps: PPOTrainer.trajectories(train, config: initial.config).reduce(0) { $0 + $1.count },
            initialPolicyVersion: initial.policyVersion, updates: history, validation: validation, policyVersion: nil, published: false,
            announced: false, announceError: nil, weightsSha256: candidate.sha256)
        return (result, candidate)
    }

    /// Seeded hold-out split by report (at least one report stays for training).
    static func split(_ experiences: [SimicExperience], fraction: Double, seed: UInt64) -> ([SimicExperience], [SimicExperience]) {
        guard fraction > 0, experiences.count >= 2 else { return (experiences, []) }
        var order = Array(experiences.indices)
        var rng = SimicRandom(seed: seed, stream: 5)
        rng.shuffle(&order)
        let held = min(experiences.count - 1, max(1, Int((Double(experiences.count) * fraction).rounded(.down))))
        let heldSet = Set(order.prefix(held))
        return (
            experiences.indices.filter { !heldSet.contains($0) }.map { experiences[$0] },
            experiences.indices.filter { heldSet.contains($0) }.map { experiences[$0] }
        )
    }

    // MARK: - Telemetry (04-simic §7)

    static func updatePacket(_ jobId: String, _ m: PPOUpdateMetrics) -> TelemetryPacket {
        let job = ["training_run_id": jobId]
        return TelemetryPacket.build(
            packetId: "simic-metrics-\(jobId)-\(m.update)", source: "simic", level: .info,
            metrics: [
                MetricPoint(name: "simic.training.loss", value: m.totalLoss, unit: "loss", attributes: job),
                MetricPoint(name: "simic.training.reward", value: m.meanReward, unit: "reward", attributes: job),
                MetricPoint(name: "simic.policy.loss", value: m.policyLoss, unit: "loss", attributes: job),
                MetricPoint(name: "simic.value.loss", value: m.valueLoss, unit: "loss", attributes: job),
                MetricPoint(name: "simic.policy.entropy", value: m.entropy, unit: "nats", attributes: job),
                MetricPoint(name: "simic.training.kl", value: m.approxKL, unit: "ratio", attributes: job),
                MetricPoint(name: "simic.training.iterations", value: Double(m.update), unit: "count", attributes: job),
            ].filter { $0.value.isFinite },
            events: [TelemetryEvent(description: "Simic PPO update", level: .info, attributes: job)])
    }

    static func validationPacket(_ jobId: String, _ v: ValidationResult) -> TelemetryPacket {
        let job = ["training_run_id": jobId]
        var events: [TelemetryEvent] = []
        if !v.passed {
            events.append(
                TelemetryEvent(
                    description: "Simic policy validation failed", level: .warning,
                    attributes: [
                        "training_run_id": jobId, "reasons": v.reasons.isEmpty ? "unspecified" : v.reasons.joined(separator: "; "),
                    ]))
        }
        return TelemetryPacket.build(
            packetId: "simic-validation-\(jobId)", source: "simic", level: v.passed ? .info : .warning,
            metrics: [MetricPoint(name: "simic.validation.pass", value: v.passed ? 1 : 0, unit: "bool", attributes: job)],
            events: events, healthStatus: v.passed ? .healthy : .degraded,
            healthSummary: v.passed ? "stable" : "validation_failed")
    }
}

extension SimicJobResult {
    /// Records a publication in the result.
    mutating func apply(_ published: PolicyPublisher.Published) {
        policyVersion = published.record.version
        self.published = true
        announced = published.record.announced
        announceError = published.announceError
        weightsSha256 = published.record.sha256
    }
}
