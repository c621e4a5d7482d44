public import EsperJSON
import Foundation
public import Logging
public import Oona
import Synchronization

/// The server's side of the run records: one consumer (the server's group) on `jobs.records`
/// applying each to the run registry through `RunService.apply`. A record that cannot be
/// applied (the database is busy) stays pending and comes back; an unreadable one is
/// dropped with an error in the log.
public final class JobRecordApplier: Sendable {
    let bus: OonaClient
    let runs: RunService
    let logger: Logger
    /// Records of other job kinds on the same stream (a remote worker's policy job): returns
    /// true when it took the record, false to read it as a run record.
    let otherRecords: (@Sendable (JSONValue) throws -> Bool)?
    private let stopping = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)

    public init(bus: OonaClient, runs: RunService, logger: Logger, otherRecords: (@Sendable (JSONValue) throws -> Bool)? = nil) {
        self.otherRecords = otherRecords
        self.bus = bus
        self.runs = runs
        self.logger = logger
    }

    public func start() {
        started.store(true, ordering: .releasing)
        let thread = Thread { [self] in
            defer { done.signal() }
            // From the start of the stream on first creation: records written while no server
            // ran are applied too.
            try? bus.ensureConsumerGroup(streams: [.jobsRecords], from: "0")
            let consumer = OonaConsumer(
                client: bus, streams: [.jobsRecords], group: bus.configuration.group, name: bus.configuration.consumerName + "-records")
            consumer.run(count: 100, block: .milliseconds(500), while: { !self.stopping.load(ordering: .acquiring) }) { delivery in
                guard case .unspecified(let value) = delivery.message else { return }
                if let otherRecords, try otherRecords(value) { return }
                let record: RunJobRecord
                do {
                    record = try JanssonDecoder().decode(RunJobRecord.self, from: value)
                } catch {
                    logger.error("unreadable run record dropped", metadata: ["id": "\(delivery.entryId)", "error": "\(error)"])
                    return
                }
                try runs.apply(record)
            }
            consumer.close()
        }
        thread.name = "tolaria-records"
        thread.start()
    }

    public func stop() {
        stopping.store(true, ordering: .releasing)
        if started.load(ordering: .acquiring) { _ = done.wait(timeout: .now() + 5) }
    }
}
