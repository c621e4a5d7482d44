/// The kinds of event a client can receive (`event:` of each SSE message; the `types=`
/// filter names them).
public enum EventType: String, Sendable, CaseIterable, Hashable {
    /// One finished epoch of a run: losses, accuracy, training metrics, the seeds' stages
    /// (Tolaria's `SystemStatePacket`).
    case epoch
    /// A seed lifecycle change: a transition, a cull, a pause (Kasmina telemetry events).
    case seed
    /// An `AdaptationCommand` Tamiyo issued.
    case command
    /// An alert that started firing or resolved (Nissa).
    case alert
    /// A run's status changed, or something happened to it (rollback, non-finite loss, …).
    case run

    /// Names in a `types=` value that are not event types.
    public struct UnknownTypes: Error, Sendable {
        public let names: [String]
    }

    /// Parses a `types=` value: comma-separated names. On failure, the names that are not types.
    public static func parseList(_ text: String) -> Result<Set<EventType>, UnknownTypes> {
        var types = Set<EventType>()
        var bad: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let name = part.trimmingCharacters()
            if let type = EventType(rawValue: name) { types.insert(type) } else { bad.append(name) }
        }
        if !bad.isEmpty { return .failure(UnknownTypes(names: bad)) }
        return .success(types)
    }
}

/// One event ready to fan out: its type, the run it belongs to (nil for alerts), and its
/// `data:` line (one compact JSON object).
public struct HubEvent: Sendable, Equatable {
    public let type: EventType
    public let runId: String?
    public let data: [UInt8]
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        var s = self
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
