/// How the job-queue streams (`OonaStream.isJobQueue`: the job streams and the workers'
/// records) are kept short. Their entries are work — a queued run's job, an epoch the server
/// has not applied yet — so neither `MAXLEN` nor the TTL sweep may remove one a consumer still
/// has to handle: with more than `max_stream_length` jobs waiting (a study of many runs, a
/// fleet down for a while), the oldest jobs were trimmed on the next XADD and their runs stayed
/// queued for good. Instead, what every consuming group has finished — delivered and
/// acknowledged — is removed here (`XTRIM MINID`), from each group's last delivered id and its
/// oldest pending entry. A stream no group consumes yet keeps everything.
enum OonaWorkRetention {
    /// One round trip for the groups, one for their pending summaries, one for the trims;
    /// returns how many entries were removed.
    static func sweep(_ redis: RedisConnection, keys: OonaStreamKeys, exact: Bool) throws(RedisError) -> Int {
        let streams = OonaStream.allCases.filter(\.isJobQueue)
        let groupReplies = try redis.pipeline(streams.map { ["XINFO", "GROUPS", keys.key($0)] })
        // Only groups with consumers: the bootstrap group nobody reads with would hold
        // everything back.
        let consuming = zip(streams, groupReplies).map { stream, reply in
            (stream, OonaHousekeeper.parseGroups(reply).filter { $0.consumers > 0 })
        }
        let summaries = consuming.flatMap { stream, groups in groups.map { ["XPENDING", keys.key(stream), $0.name] } }
        var pendingReplies = try redis.pipeline(summaries)[...]
        var trims: [[String]] = []
        for (stream, groups) in consuming where !groups.isEmpty {
            var keep: StreamID?
            for group in groups {
                // [count, smallest id, greatest id, consumers]: nothing pending → nil ids.
                let summary = pendingReplies.popFirst()?.array
                guard let delivered = StreamID(group.lastDeliveredId) else {
                    keep = StreamID(milliseconds: 0, sequence: 0)
                    continue
                }
                let oldestPending = summary.flatMap { $0.count > 1 ? $0[1].text : nil }.flatMap(StreamID.init)
                let finishedBefore = min(oldestPending ?? delivered.successor, delivered.successor)
                keep = min(keep ?? finishedBefore, finishedBefore)
            }
            if let keep, keep > StreamID(milliseconds: 0, sequence: 0) {
                trims.append(["XTRIM", keys.key(stream), "MINID", exact ? "=" : "~", keep.description])
            }
        }
        guard !trims.isEmpty else { return 0 }
        return try redis.pipeline(trims).reduce(0) { $0 + Int($1.integer ?? 0) }
    }

    /// A stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them.
    struct StreamID: Comparable, CustomStringConvertible {
        var milliseconds: UInt64
        var sequence: UInt64

        init(milliseconds: UInt64, sequence: UInt64) {
            self.milliseconds = milliseconds
            self.sequence = sequence
        }

        init?(_ text: String) {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 2, let milliseconds = UInt64(parts[0]), let sequence = UInt64(parts[1]) else { return nil }
            self.init(milliseconds: milliseconds, sequence: sequence)
        }

        /// The smallest id after this one.
        var successor: StreamID {
            sequence == .max
                ? StreamID(milliseconds: milliseconds + 1, sequence: 0) : StreamID(milliseconds: milliseconds, sequence: sequence + 1)
        }

        var description: String { "\(milliseconds)-\(sequence)" }

        static func < (a: StreamID, b: StreamID) -> Bool {
            (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence)
        }
    }
}
