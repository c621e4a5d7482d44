import EsperJSON
import Foundation
public import Leyline
public import Logging
public import Oona
import Synchronization
import Tolaria

/// Sends run records (`jobs.records`) in order, keeping the ones Redis could not take in an
/// outbox that the next publish — or the heartbeat — flushes first. A worker that loses
/// Redis keeps training; nothing it learned is lost when Redis comes back (the outbox holds
/// up to `capacity` records; beyond that the oldest epoch records go — the registry then
/// misses those epochs, and a warning says so).
public final class RecordPublisher: Sendable {
    let bus: OonaClient
    let logger: Logger
    let capacity: Int
    private let outbox = Mutex<[RunJobRecord]>([])

    public init(bus: OonaClient, logger: Logger, capacity: Int = 100_000) {
        self.bus = bus
        self.logger = logger
        self.capacity = capacity
    }

    /// Queues `record` and publishes what waits, with `alongside` (best-effort bus messages:
    /// the epoch's state packet and telemetry) in the same round trip. `alongside` is not
    /// kept when Redis is away: only records are owed to the server.
    ///
    /// Queued and sent under one hold of the outbox: the heartbeat flushes the same outbox
    /// from its own thread, and with the two steps apart it could send the record first and
    /// leave this call an empty outbox — and the epoch's state packet went nowhere (one in
    /// 20,000 epochs under load).
    public func publish(_ record: RunJobRecord, alongside: [(BusMessage, PublishOptions)] = []) {
        outbox.withLock { queue in
            queue.append(record)
            if queue.count > capacity {
                queue.removeFirst(queue.count - capacity)
                logger.warning("run record outbox full; dropping the oldest records")
            }
            _ = send(&queue, alongside: alongside)
        }
    }

    /// Publishes what waits, in order; true when the outbox is empty.
    @discardableResult
    public func flush() -> Bool {
        outbox.withLock { queue in send(&queue, alongside: []) }
    }

    /// One round trip: `alongside`, then up to 256 waiting records; true when none is left.
    private func send(_ queue: inout [RunJobRecord], alongside: [(BusMessage, PublishOptions)]) -> Bool {
        guard !queue.isEmpty || !alongside.isEmpty else { return true }
        var batch: [(BusMessage, PublishOptions)] = alongside
        let taken = min(queue.count, 256)
        for record in queue.prefix(taken) {
            guard let value = try? JanssonEncoder().encodeValue(record) else { continue }
            batch.append(
                (.unspecified(value), PublishOptions(stream: .jobsRecords, attributes: ["run_id": record.runId], source: "workers")))
        }
        do {
            // Written, or refused for good (too large, not encodable): either way it leaves
            // the outbox.
            _ = try bus.publish(batch: batch)
            queue.removeFirst(taken)
        } catch {
            logger.debug("run records not published yet", metadata: ["waiting": "\(queue.count)", "error": "\(error)"])
            return false
        }
        return queue.isEmpty
    }

    public var waiting: Int { outbox.withLock { $0.count } }
}

/// A run's epochs and events as records for the server's registry and, in the same round
/// trip, as the bus messages every consumer reads (state packet and telemetry per epoch,
/// telemetry per event — what `BusTrainingSink` publishes).
struct RecordSink: TrainingEventSink {
    let publisher: RecordPublisher
    let worker: String
    /// The training attempt (`JobAttempt`) the records belong to.
    let attempt: String?
    let bus: BusTrainingSink

    func epochCompleted(_ summary: EpochSummary) {
        publisher.publish(
            RunJobRecord(kind: .epoch, runId: summary.runId, worker: worker, epoch: summary.epoch, summary: summary, attempt: attempt),
            alongside: bus.epochMessages(summary))
    }

    func event(_ event: TrainingEvent) {
        publisher.publish(
            RunJobRecord(kind: .event, runId: event.runId, worker: worker, epoch: event.epoch, event: event, attempt: attempt),
            alongside: [(.telemetry(BusTrainingSink.eventPacket(event)), PublishOptions())])
    }
}
