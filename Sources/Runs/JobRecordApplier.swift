public import EsperJSON
import Foundation
public import Logging
public import Oona
import Synchronization

/// The server's side of the run records: one consumer (the server's group) on `jobs.records`
/// applying each to the run registry through `RunService.apply`. A record that cannot be
/// applied (the database is busy) stays pending and comes back; an unreadable one is
/// dropped with an error in the log.
public final class JobRecordApplier: LongRunningService {
    let runs: RunService
    let logger: Logger
    /// Records of other job kinds on the same stream (a remote worker's policy job): returns
    /// true when it took the record, false to read it as a run record.
    let otherRecords: (@Sendable (JSONValue) throws -> Bool)?
    /// `jobs.records` in the server's group, from the start of the stream on first creation:
    /// records written while no server ran are applied too.
    private let subscription: OonaSubscription
    public let name = "run-records"

    public init(bus: OonaClient, runs: RunService, logger: Logger, otherRecords: (@Sendable (JSONValue) throws -> Bool)? = nil) {
        self.otherRecords = otherRecords
        self.runs = runs
        self.logger = logger
        subscription = OonaSubscription(
            client: bus,
            options: .init(
                streams: [.jobsRecords], group: bus.configuration.group, consumer: bus.configuration.consumerName + "-records",
                groupStart: "0", count: 100, block: .milliseconds(500), threadName: "tolaria-records"))
    }

    public func start() {
        subscription.start { [self] delivery in
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
    }

    public func stop() { subscription.stop() }

    public var health: ServiceHealth { subscription.health }
}
