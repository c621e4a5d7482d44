import Synchronization

/// Backlog — the pressure backpressure acts on: entries the consuming groups still have to
/// handle (not yet delivered, or delivered and not acknowledged), never the consumed history a
/// stream keeps until it is trimmed by length or age.
///
/// Per group: `lag + pending` (`XINFO GROUPS`), capped at the stream's length (a pending entry
/// whose data was trimmed is no work any more). When Redis cannot tell the lag (null: entries
/// the group had not read were trimmed or deleted) the stream's length stands in for it — an
/// upper bound. A stream's backlog is the largest over the groups that have consumers: a group
/// no consumer ever read from (the bootstrap group on a stream nobody reads with it) is not a
/// consumer. When no group has a consumer yet, every group counts; with no group at all the
/// stream's length is the backlog (nobody has taken anything from it).
public enum OonaBacklog {
    public static func backlog(length: Int, groups: [OonaGroupStats]) -> Int {
        guard !groups.isEmpty else { return length }
        let consuming = groups.filter { $0.consumers > 0 }
        let counted = consuming.isEmpty ? groups : consuming
        return counted.map { group in min(length, (group.lag.map { min($0, length) } ?? length) + group.pending) }.max() ?? 0
    }

    /// The two commands whose replies `backlog(lengthReply:groupsReply:)` reads.
    static func commands(key: String) -> [[String]] { [["XLEN", key], ["XINFO", "GROUPS", key]] }

    /// From the replies of `commands(key:)`; a missing stream (error reply) has backlog 0.
    static func backlog(lengthReply: RedisReply, groupsReply: RedisReply) -> Int {
        backlog(length: Int(lengthReply.integer ?? 0), groups: OonaHousekeeper.parseGroups(groupsReply))
    }
}

/// The publish path's view of the normal and emergency backlogs: measured with one pipelined
/// `XLEN` + `XINFO GROUPS` per stream at most every `backlogRefreshInterval` or every
/// `backlogRefreshPublishes` throttled publishes, and in between advanced by the entries this
/// process wrote (an upper bound: consumers may have taken them meanwhile). So publishing
/// stays one round trip per batch almost always, and a burst overshoots a threshold by at most
/// one refresh window.
final class OonaBacklogCache: Sendable {
    struct Reading {
        var normal = 0
        var emergency = 0
        var measuredAt: ContinuousClock.Instant?
        var writtenSince = 0
    }

    private let state = Mutex(Reading())
    let interval: Duration
    let publishes: Int

    init(interval: Duration, publishes: Int) {
        self.interval = interval
        self.publishes = max(1, publishes)
    }

    var current: Reading { state.withLock { $0 } }

    /// Whether the next routing decision should be based on a fresh measurement.
    var isStale: Bool {
        state.withLock { reading in
            guard let at = reading.measuredAt else { return true }
            return interval == .zero || ContinuousClock.now - at >= interval || reading.writtenSince >= publishes
        }
    }

    func measured(normal: Int, emergency: Int) {
        state.withLock { $0 = Reading(normal: normal, emergency: emergency, measuredAt: .now, writtenSince: 0) }
    }

    /// Entries this process wrote since the last measurement.
    func wrote(normal: Int, emergency: Int) {
        guard normal + emergency > 0 else { return }
        state.withLock { reading in
            reading.normal += normal
            reading.emergency += emergency
            reading.writtenSince += normal + emergency
        }
    }
}
