public import Leyline
public import Logging
public import Oona
public import Tolaria

#if canImport(Glibc)
    import Glibc
#endif

/// Publishes each finished epoch on the bus, as the contracts say: a `SystemStatePacket` on
/// the normal stream and a `TelemetryPacket` (source `tolaria`, the spec's metric names) on
/// the telemetry stream; run events (rollback, non-finite loss, budget overruns) go out as
/// telemetry events. A bus that is down never stops training: the publish fails fast once
/// Oona's breaker is open, and the failure is counted and logged at debug level.
public final class BusTrainingSink: TrainingEventSink {
    let bus: OonaClient
    let logger: Logger
    let hardware: HardwareContext

    public init(bus: OonaClient, logger: Logger) {
        self.bus = bus
        self.logger = logger
        hardware = HardwareContext(
            deviceType: "cpu", deviceId: "cpu0",
            totalMemoryGb: Float(Double(ProcessMemory.totalBytes) / 1_073_741_824))
    }

    public func epochCompleted(_ summary: EpochSummary) {
        publish("state") { () throws(OonaError) in try bus.publishState(BusTrainingSink.statePacket(summary, hardware: hardware)) }
        publish("telemetry") { () throws(OonaError) in try bus.publishTelemetry(BusTrainingSink.telemetryPacket(summary)) }
    }

    public func event(_ event: TrainingEvent) {
        let packet = BusTrainingSink.eventPacket(event)
        publish("event") { () throws(OonaError) in try bus.publishTelemetry(packet) }
    }

    /// The messages of one epoch: its state packet (normal stream) and telemetry.
    public func epochMessages(_ summary: EpochSummary) -> [(BusMessage, PublishOptions)] {
        [
            (.systemState(BusTrainingSink.statePacket(summary, hardware: hardware)), PublishOptions()),
            (.telemetry(BusTrainingSink.telemetryPacket(summary)), PublishOptions()),
        ]
    }

    /// A run event as a telemetry packet (source `tolaria`, the event kind as description).
    public static func eventPacket(_ event: TrainingEvent) -> TelemetryPacket {
        let level: TelemetryLevel =
            switch event.level {
            case .info: .info
            case .warning: .warning
            case .error: .error
            }
        var attributes = event.attributes
        attributes["run_id"] = event.runId
        attributes["epoch"] = String(event.epoch)
        attributes["message"] = event.message
        return TelemetryPacket.build(
            packetId: "\(event.runId)-event-\(event.epoch)-\(event.kind.rawValue)-\(event.timestampNs)", source: "tolaria", level: level,
            metrics: [], events: [TelemetryEvent(description: event.kind.rawValue, level: level, attributes: attributes)],
            healthStatus: event.level == .error ? .unhealthy : event.level == .warning ? .degraded : .healthy,
            healthSummary: event.kind.rawValue)
    }

    /// A status change as a `run_status` telemetry event (source `tolaria`).
    public func runStatusChanged(_ runId: String, status: RunStatus, epoch: Int, error: String?) {
        let packet = BusTrainingSink.statusPacket(runId, status: status, epoch: epoch, error: error)
        publish("status") { () throws(OonaError) in try bus.publishTelemetry(packet) }
    }

    /// The `run_status` telemetry event of a status change.
    public static func statusPacket(_ runId: String, status: RunStatus, epoch: Int, error: String?) -> TelemetryPacket {
        var attributes = ["run_id": runId, "status": status.rawValue, "epoch": String(epoch), "message": "run \(status.rawValue)"]
        if let error { attributes["error"] = String(error.prefix(500)) }
        let level: TelemetryLevel = status == .failed ? .error : .info
        return TelemetryPacket.build(
            packetId: "\(runId)-status-\(status.rawValue)-\(WallClock.nanoseconds())", source: "tolaria", level: level, metrics: [],
            events: [TelemetryEvent(description: "run_status", level: level, attributes: attributes)],
            healthStatus: status == .failed ? .unhealthy : .healthy, healthSummary: "run_status")
    }

    private func publish(_ what: String, _ body: () throws(OonaError) -> PublishOutcome) {
        do {
            _ = try body()
        } catch {
            logger.debug("tolaria: \(what) not published", metadata: ["error": "\(error)"])
        }
    }

    /// The epoch as a Leyline `SystemStatePacket` (one per epoch; `packet_id` is
    /// `<run>-epoch-<n>` so a consumer can drop a redelivery).
    public static func statePacket(
        _ summary: EpochSummary, hardware: HardwareContext = HardwareContext(deviceType: "cpu")
    ) -> SystemStatePacket {
        // Kasmina reports its seeds with their real stages; a module that does not report
        // appears as its slot, stage unknown.
        let seeds =
            summary.seeds
            ?? summary.slots.filter { $0.module != "identity" }.enumerated().map { index, slot in
                SeedState(
                    seedId: slot.name, stage: .unknown, layerDepth: UInt32(index),
                    metrics: ["parameters": Float(slot.parameters), "width": Float(slot.width)])
            }
        return SystemStatePacket(
            currentEpoch: UInt32(clamping: summary.epoch), validationAccuracy: Float(summary.validationAccuracy),
            validationLoss: Float(summary.validationLoss), timestampNs: UInt64(clamping: summary.timestampNs), hardwareContext: hardware,
            trainingMetrics: [
                "loss": Float(summary.trainLoss), "accuracy": Float(summary.trainAccuracy), "grad_norm": Float(summary.gradientNorm),
                "samples_per_s": Float(summary.samplesPerSecond), "epoch_ms": Float(summary.epochMs),
                "boundary_ms": Float(summary.boundaryMs),
            ],
            seedStates: seeds, packetId: "\(summary.runId)-epoch-\(summary.epoch)", globalStep: UInt64(clamping: summary.globalStep),
            trainingLoss: Float(summary.trainLoss), sourceSubsystem: "tolaria", trainingRunId: summary.runId,
            experimentName: summary.experimentName)
    }

    /// The epoch's telemetry: the metrics of 01-tolaria.md, each labelled with the run.
    public static func telemetryPacket(_ summary: EpochSummary) -> TelemetryPacket {
        let metrics = summary.telemetryMetrics.map {
            MetricPoint(name: $0.name, value: $0.value, unit: $0.unit, attributes: ["run_id": summary.runId])
        }
        let health = summary.health(epochTimeBudgetMs: nil)
        var events: [TelemetryEvent] = []
        if health.status != .healthy {
            events.append(
                TelemetryEvent(
                    description: health.summary, level: .warning,
                    attributes: ["run_id": summary.runId, "epoch": String(summary.epoch)]))
        }
        return TelemetryPacket.build(
            packetId: "\(summary.runId)-telemetry-\(summary.epoch)", source: "tolaria",
            level: health.status == .healthy ? .info : .warning, metrics: metrics, events: events,
            healthStatus: health.status, healthSummary: health.summary,
            healthIndicators: ["epoch": String(summary.epoch), "run_id": summary.runId])
    }
}

/// Physical memory of the machine (for the state packet's hardware context).
enum ProcessMemory {
    static var totalBytes: Int64 {
        Int64(sysconf(Int32(_SC_PHYS_PAGES))) * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
