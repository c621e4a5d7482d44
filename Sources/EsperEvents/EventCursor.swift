public import Oona

/// A Redis stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them.
public struct StreamEntryID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let milliseconds: UInt64
    public let sequence: UInt64

    public static let zero = StreamEntryID(milliseconds: 0, sequence: 0)

    public init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `123-4` (a bare `123` means `123-0`, as Redis reads it).
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.count <= 20 && $0.allSatisfy(\.isASCII) }),
            let ms = UInt64(parts[0])
        else { return nil }
        let seq = parts.count == 2 ? UInt64(parts[1]) : 0
        guard let seq else { return nil }
        milliseconds = ms
        sequence = seq
    }

    public var description: String { "\(milliseconds)-\(sequence)" }

    public static func < (a: StreamEntryID, b: StreamEntryID) -> Bool {
        (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence)
    }
}

/// Where a client is in the event sources: the id of the last entry it has seen in each
/// stream the hub reads. Entry ids of different streams do not order against each other
/// (two streams can hold entries of the same millisecond in any order), so resuming exactly
/// needs one position per stream; the SSE `id:` is this cursor,
/// `<normal>,<emergency>,<telemetry>` (e.g. `1732860000000-0,0-0,1732860000123-4`).
public struct EventCursor: Sendable, Equatable, CustomStringConvertible {
    /// The streams events come from, in cursor order: state packets and commands (normal,
    /// or emergency under backpressure), telemetry (seed changes, run status, alerts).
    public static let streams: [OonaStream] = [.normal, .emergency, .telemetry]

    public var positions: [StreamEntryID]

    public init(positions: [StreamEntryID]) {
        precondition(positions.count == EventCursor.streams.count)
        self.positions = positions
    }

    /// Every stream from its first entry.
    public static let start = EventCursor(positions: Array(repeating: .zero, count: streams.count))

    /// Parses a `Last-Event-ID`; nil when it is not a cursor this server wrote.
    public init?(_ text: String) {
        guard text.utf8.count <= 200 else { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == EventCursor.streams.count else { return nil }
        var positions: [StreamEntryID] = []
        for part in parts {
            guard let id = StreamEntryID(part.trimmingCharacters(in: " ")) else { return nil }
            positions.append(id)
        }
        self.positions = positions
    }

    public var description: String { positions.map(\.description).joined(separator: ",") }

    public subscript(stream: OonaStream) -> StreamEntryID {
        get { positions[EventCursor.streams.firstIndex(of: stream)!] }
        set { positions[EventCursor.streams.firstIndex(of: stream)!] = newValue }
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.first == set { s = s.dropFirst() }
        while s.last == set { s = s.dropLast() }
        return s
    }
}
