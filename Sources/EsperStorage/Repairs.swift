public import Foundation
import Synchronization

/// One repair: a damaged file (or record) found, and what was done about it.
public struct RepairEvent: Sendable, Equatable, Codable {
    /// `urza`, `tamiyo`, `simic`, `tolaria`, `nissa`.
    public var component: String
    /// The damaged file (with `@<offset>` for a record inside a log).
    public var file: String
    public var reason: String
    /// `quarantined`, `recompile`, `skipped`, `rejected`.
    public var action: String
    /// Where the bad bytes were kept, when they were.
    public var quarantine: String?
    public var at: Date

    public init(component: String, file: String, reason: String, action: String, quarantine: String? = nil, at: Date = Date()) {
        self.component = component
        self.file = file
        self.reason = reason
        self.action = action
        self.quarantine = quarantine
        self.at = at
    }
}

/// Every repair of the process in one place (issue 16: "every repair leaves a trace"). Each
/// component records what it found and did; the server turns the records into a counter
/// (`esper_repairs_total{component,action}`) and a log line — repairs found before the
/// server's observer is attached (at open) are replayed to it, so none is missed.
public final class Repairs: Sendable {
    public static let shared = Repairs()

    /// An observer sees the repairs of files under its directory (one server's data
    /// directory: several servers in one process, as in the tests, each count their own).
    private struct Observer {
        var directory: String
        var call: @Sendable (RepairEvent) -> Void

        func sees(_ event: RepairEvent) -> Bool {
            directory.isEmpty || event.file.hasPrefix(directory.hasSuffix("/") ? directory : directory + "/")
        }
    }

    private struct State {
        var recent: [RepairEvent] = []
        var observers: [Observer] = []
    }

    private let state = Mutex(State())
    static let keep = 1000

    public init() {}

    public func record(_ event: RepairEvent) {
        let observers = state.withLock { state -> [Observer] in
            state.recent.append(event)
            if state.recent.count > Repairs.keep { state.recent.removeFirst(state.recent.count - Repairs.keep) }
            return state.observers.filter { $0.sees(event) }
        }
        observers.forEach { $0.call(event) }
    }

    /// Calls `observer` for every repair so far and every later one of files under `directory`
    /// ("" for all).
    public func observe(under directory: String, _ observer: @escaping @Sendable (RepairEvent) -> Void) {
        let watcher = Observer(directory: directory, call: observer)
        let earlier = state.withLock { state -> [RepairEvent] in
            state.observers.append(watcher)
            return state.recent.filter(watcher.sees)
        }
        earlier.forEach(observer)
    }

    /// The latest repairs (at most 1,000), oldest first.
    public var recent: [RepairEvent] { state.withLock { $0.recent } }

    /// Copies `bytes` (the damaged file or record) to `<directory>/quarantine/<name>.<unix
    /// time>.<n>`; returns the path, nil when even that fails.
    public static func keep(_ bytes: [UInt8], name: String, directory: String) -> String? {
        let quarantine = directory + "/quarantine"
        guard (try? AtomicFile.createDirectory(quarantine)) != nil else { return nil }
        let stamp = Int(Date().timeIntervalSince1970)
        for attempt in 0..<1000 {
            let path = quarantine + "/\(name).\(stamp).\(attempt)"
            guard !AtomicFile.exists(path) else { continue }
            return (try? AtomicFile.write(bytes, to: path)) != nil ? path : nil
        }
        return nil
    }
}
