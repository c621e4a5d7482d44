import EsperJSON
import Foundation

/// Every publisher's counters, fleet-wide. Each process' housekeeper writes its own counters
/// into the hash `esper:{bus}:oona.publishers` (field: its consumer name, `<host>-<pid>`,
/// which is also an `esper worker`'s id) with every sample, and reads everyone's back: so the
/// server shows what each worker published, rerouted, dropped and shed
/// (`GET /api/v1/oona/metrics` → `publishers`, `fleet`; `esper_oona_publisher_*` on `/metrics`).
/// A publisher silent longer than `publisherForgetAfter` is removed.
public struct OonaPublisherReport: Sendable, Equatable, Codable {
    public var id: String
    public var pid: Int32
    /// Redis' clock (ms) at the publisher's last report.
    public var updatedMs: Int64
    /// Every `OonaMetrics.Counter` by its API name.
    public var counters: [String: Int]
}

/// The fleet as the last sample saw it.
public struct OonaFleetCounters: Sendable, Equatable, Codable {
    public struct Publisher: Sendable, Equatable, Codable {
        public var id: String
        public var pid: Int32
        public var lastSeenMsAgo: Int64
        public var counters: [String: Int]
    }

    public var publishers: [Publisher]
    /// Sums over the publishers.
    public var total: [String: Int]

    public static let empty = OonaFleetCounters(publishers: [], total: [:])

    /// The counters that the fleet view and Prometheus show per publisher.
    static let reported: [OonaMetrics.Counter] = [
        .publishTotal, .publishRerouted, .publishDropped, .publishShed, .publishFailed, .consumed, .acked, .deadLettered,
    ]

    init(reports: [OonaPublisherReport], nowMs: Int64) {
        publishers = reports.sorted { $0.id < $1.id }.map {
            Publisher(id: $0.id, pid: $0.pid, lastSeenMsAgo: max(0, nowMs - $0.updatedMs), counters: $0.counters)
        }
        var total: [String: Int] = [:]
        for report in reports {
            for (name, value) in report.counters { total[name, default: 0] += value }
        }
        self.total = total
    }

    public init(publishers: [Publisher], total: [String: Int]) {
        self.publishers = publishers
        self.total = total
    }

    static func encode(_ report: OonaPublisherReport) -> String {
        (try? JanssonEncoder().encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// `HGETALL` reply → reports (unreadable fields are skipped).
    static func decode(_ reply: RedisReply) -> [OonaPublisherReport] {
        let items = reply.array ?? []
        var reports: [OonaPublisherReport] = []
        var index = 0
        while index + 1 < items.count {
            if case .string(let bytes) = items[index + 1], let report = try? JanssonDecoder().decode(OonaPublisherReport.self, from: bytes)
            {
                reports.append(report)
            }
            index += 2
        }
        return reports
    }
}

/// Drops seen fleet-wide since the previous reading (for the `oona.publish.dropped` metric
/// the drop alert reads): per publisher the rise of its counter; a publisher that appears
/// after the first reading counts in full, and the first reading only sets the baseline.
struct OonaDropTracker {
    private var previous: [String: Int]?

    mutating func newDrops(_ fleet: OonaFleetCounters) -> Int {
        let current = Dictionary(
            fleet.publishers.map { ($0.id, $0.counters[OonaMetrics.Counter.publishDropped.rawValue] ?? 0) }, uniquingKeysWith: max)
        defer { previous = current }
        guard let previous else { return 0 }
        return current.reduce(0) { sum, item in sum + max(0, item.value - (previous[item.key] ?? 0)) }
    }
}
