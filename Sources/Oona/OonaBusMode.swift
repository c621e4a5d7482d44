import EsperJSON
public import Foundation
import Leyline
import Synchronization

/// The bus' conservative mode (09-oona §6, the runbook's lever for a queue-depth spike), as
/// every process sees it. While on, publishers sample telemetry *detail* — info-level packets
/// without events, i.e. per-epoch metrics — keeping one in `conservativeTelemetrySample`;
/// everything else (state packets, commands, field reports, policy updates, job records,
/// telemetry carrying events or warnings, Oona's own depth reports) is never shed. What was
/// shed is counted (`publish_shed`).
///
/// The mode lives in Redis (`esper:{bus}:oona.mode`, JSON) so every publisher — the server
/// and each `esper worker` — follows it: each process' housekeeper reads it with every
/// sample. An operator sets it (`PUT /api/v1/oona/mode`); the server's housekeeper turns it
/// on by itself after `conservativeSustainSamples` samples in a row with a bus backlog at or
/// above `conservativeOnBacklog`, and off again (only if it turned it on) after as many at or
/// below `conservativeOffBacklog` — the gap between the two is the hysteresis.
public struct OonaModeState: Sendable, Equatable, Codable {
    public enum Source: String, Sendable, Codable {
        case `default`
        case manual
        case automatic
    }

    public var conservative: Bool
    public var reason: String
    public var source: Source
    /// RFC 3339, when the mode last changed.
    public var since: String

    public init(conservative: Bool, reason: String, source: Source, since: Date = Date()) {
        self.conservative = conservative
        self.reason = reason
        self.source = source
        self.since = LeylineTimestamp(date: since).rfc3339
    }

    public static let initial = OonaModeState(conservative: false, reason: "", source: .default, since: Date(timeIntervalSince1970: 0))
}

/// The process-local copy of the mode, read on the publish path without a Redis call.
public final class OonaBusMode: Sendable {
    private let state = Mutex(OonaModeState.initial)
    private let conservative = Atomic<Bool>(false)
    private let sampleCounter = Atomic<Int>(0)
    let sample: Int

    init(sample: Int) { self.sample = max(1, sample) }

    public var current: OonaModeState { state.withLock { $0 } }
    public var isConservative: Bool { conservative.load(ordering: .relaxed) }

    /// Adopts a state (read from Redis, or just written); true when it changed.
    @discardableResult
    func adopt(_ new: OonaModeState) -> Bool {
        let changed = state.withLock { current -> Bool in
            guard current != new else { return false }
            current = new
            return true
        }
        conservative.store(new.conservative, ordering: .relaxed)
        return changed
    }

    /// One in `sample` telemetry-detail messages is kept in conservative mode.
    func keepsSample() -> Bool { sampleCounter.wrappingAdd(1, ordering: .relaxed).oldValue % sample == 0 }

    /// Telemetry detail: info-level (or unset) telemetry without events, from anyone but Oona
    /// itself (its depth reports are what turns the mode off again).
    static func isDetail(_ message: BusMessage) -> Bool {
        guard case .telemetry(let packet) = message else { return false }
        return packet.level.rawValue <= TelemetryLevel.info.rawValue && packet.events.isEmpty && packet.sourceSubsystem != "oona"
    }

    static func encode(_ state: OonaModeState) -> String {
        (try? JanssonEncoder().encode(state)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode(_ reply: RedisReply) -> OonaModeState? {
        guard case .string(let bytes) = reply else { return nil }
        return try? JanssonDecoder().decode(OonaModeState.self, from: bytes)
    }
}

/// The automatic switch's memory: consecutive samples above / below the thresholds.
struct OonaModeHysteresis {
    var above = 0
    var below = 0

    /// The state to write, if the samples say the mode should change.
    mutating func next(backlog: Int, current: OonaModeState, configuration: OonaConfiguration) -> OonaModeState? {
        guard let on = configuration.conservativeOnBacklog else { return nil }
        let off = configuration.conservativeOffBacklog ?? on / 4
        let sustain = max(1, configuration.conservativeSustainSamples)
        if backlog >= on { above += 1 } else { above = 0 }
        if backlog <= off { below += 1 } else { below = 0 }
        if !current.conservative && above >= sustain {
            above = 0
            return OonaModeState(
                conservative: true, reason: "bus backlog \(backlog) ≥ \(on) for \(sustain) samples", source: .automatic)
        }
        if current.conservative && current.source == .automatic && below >= sustain {
            below = 0
            return OonaModeState(
                conservative: false, reason: "bus backlog \(backlog) ≤ \(off) for \(sustain) samples", source: .automatic)
        }
        return nil
    }
}
