import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A metric sample from the blueprint pipeline (`karn.*`, `tezzeret.*`, `urza.*`,
/// `kasmina.kernel.*`).
public struct TelemetryMetric: Sendable, Equatable {
    public let source: String
    public let name: String
    public let value: Double
    public let labels: [String: String]
    public let unixMilliseconds: Int64

    public init(
        source: String, name: String, value: Double, labels: [String: String] = [:],
        unixMilliseconds: Int64 = TelemetryClock.nowMilliseconds()
    ) {
        self.source = source
        self.name = name
        self.value = value
        self.labels = labels
        self.unixMilliseconds = unixMilliseconds
    }
}

/// A discrete occurrence (`compile_failed`, `integrity_failure`, `fallback_applied`, ...).
public struct TelemetryEvent: Sendable, Equatable {
    public enum Level: String, Sendable { case info, warning, error }

    public let source: String
    public let name: String
    public let level: Level
    public let attributes: [String: String]
    public let unixMilliseconds: Int64

    public init(
        source: String, name: String, level: Level = .info, attributes: [String: String] = [:],
        unixMilliseconds: Int64 = TelemetryClock.nowMilliseconds()
    ) {
        self.source = source
        self.name = name
        self.level = level
        self.attributes = attributes
        self.unixMilliseconds = unixMilliseconds
    }
}

/// Where Karn, Tezzeret and Urza report. The server wires an implementation that forwards to
/// the Oona telemetry stream; tests and standalone tools keep the in-memory one. Recording
/// must be cheap and must never block or throw: it is called on compile and fetch paths.
public protocol BlueprintTelemetry: Sendable {
    func record(_ metric: TelemetryMetric)
    func record(_ event: TelemetryEvent)
}

extension BlueprintTelemetry {
    public func metric(_ source: String, _ name: String, _ value: Double, _ labels: [String: String] = [:]) {
        record(TelemetryMetric(source: source, name: name, value: value, labels: labels))
    }

    public func event(
        _ source: String, _ name: String, _ level: TelemetryEvent.Level = .info,
        _ attributes: [String: String] = [:]
    ) {
        record(TelemetryEvent(source: source, name: name, level: level, attributes: attributes))
    }
}

/// Keeps the most recent samples in memory (two bounded ring buffers), for tests, health
/// details and until the bus is wired. Recording is O(1).
public final class InMemoryBlueprintTelemetry: BlueprintTelemetry {
    private let store: Mutex<(metrics: Ring<TelemetryMetric>, events: Ring<TelemetryEvent>)>

    public init(capacity: Int = 10_000) {
        store = Mutex((Ring(capacity: max(1, capacity)), Ring(capacity: max(1, capacity))))
    }

    public func record(_ metric: TelemetryMetric) { store.withLock { $0.metrics.append(metric) } }
    public func record(_ event: TelemetryEvent) { store.withLock { $0.events.append(event) } }

    /// Oldest first.
    public var metrics: [TelemetryMetric] { store.withLock { $0.metrics.elements } }
    public var events: [TelemetryEvent] { store.withLock { $0.events.elements } }
    public func metrics(named name: String) -> [TelemetryMetric] { metrics.filter { $0.name == name } }
    public func events(named name: String) -> [TelemetryEvent] { events.filter { $0.name == name } }
}

/// A fixed-capacity ring that overwrites its oldest element.
struct Ring<Element> {
    private var storage: [Element] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[head] = element
            head = (head + 1) % capacity
        }
    }

    var elements: [Element] { Array(storage[head...] + storage[..<head]) }
}

/// Sends every record to several sinks (e.g. in-memory and the bus).
public struct FanOutBlueprintTelemetry: BlueprintTelemetry {
    public let sinks: [any BlueprintTelemetry]
    public init(_ sinks: [any BlueprintTelemetry]) { self.sinks = sinks }
    public func record(_ metric: TelemetryMetric) { for sink in sinks { sink.record(metric) } }
    public func record(_ event: TelemetryEvent) { for sink in sinks { sink.record(event) } }
}

/// Wall-clock time for telemetry timestamps.
public enum TelemetryClock {
    public static func nowMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
