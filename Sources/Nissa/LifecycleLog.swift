import Synchronization

/// A bounded log of things worth an annotation in Grafana: alert transitions, telemetry
/// events (warnings and errors from the subsystems) and runs first seen on the bus.
public final class LifecycleLog: Sendable {
    public struct Entry: Sendable, Equatable {
        /// Milliseconds since the epoch.
        public let time: Int64
        /// `alert`, `event` or `run`.
        public let kind: String
        public let title: String
        public let text: String
        public let tags: [String]
        public let source: String
    }

    private let capacity: Int
    private let entries = Mutex<[Entry]>([])

    public init(capacity: Int = 5000) { self.capacity = capacity }

    public func append(_ entry: Entry) {
        entries.withLock { entries in
            entries.append(entry)
            if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        }
    }

    /// Entries with time in [from, to], oldest first.
    public func entries(from: Int64, to: Int64) -> [Entry] {
        entries.withLock { $0.filter { $0.time >= from && $0.time <= to } }.sorted { $0.time < $1.time }
    }
}
