import Foundation
import Leyline
import Synchronization

/// Conservative mode (03-tamiyo §6): while on, germinations are restricted to the safe pool
/// (SAFE templates, Karn's conservative pool order) and anything else a policy proposes is
/// rewritten to PAUSE with `risk_reason = conservative_mode`. Turned on by an operator
/// (`PUT /api/v1/tamiyo/mode`, the runbook's `set_conservative_mode`), by
/// `TAMIYO_CONSERVATIVE_MODE` at start-up, or automatically by the design's triggers
/// (decision latency, epoch-hook latency, bus or field-report failures). An automatic switch
/// stays on until an operator turns it off: a flapping controller is worse than a cautious one.
public struct ModeState: Sendable, Equatable, Codable {
    public enum Source: String, Sendable, Codable {
        case `default`
        case environment
        case manual
        case automatic
    }

    public var conservative: Bool
    public var reason: String
    public var source: Source
    /// RFC 3339, when the mode last changed.
    public var since: String

    public init(conservative: Bool, reason: String, source: Source) {
        self.conservative = conservative
        self.reason = reason
        self.source = source
        since = ModeState.rfc3339(Date())
    }

    static func rfc3339(_ date: Date) -> String { LeylineTimestamp(date: date).rfc3339 }
}

/// The process-wide mode, read by every run's controller at each boundary.
public final class ConservativeMode: Sendable {
    private let state: Mutex<ModeState>
    /// Called after every change (telemetry), outside the lock.
    private let observer: Mutex<(@Sendable (ModeState) -> Void)?> = Mutex(nil)

    public init(atStart conservative: Bool) {
        state = Mutex(
            conservative
                ? ModeState(conservative: true, reason: "TAMIYO_CONSERVATIVE_MODE", source: .environment)
                : ModeState(conservative: false, reason: "", source: .default))
    }

    public var current: ModeState { state.withLock { $0 } }
    public var isConservative: Bool { state.withLock { $0.conservative } }

    public func observe(_ body: @escaping @Sendable (ModeState) -> Void) { observer.withLock { $0 = body } }

    /// The operator's switch.
    @discardableResult
    public func set(_ conservative: Bool, reason: String) -> ModeState {
        let updated = ModeState(conservative: conservative, reason: reason, source: .manual)
        state.withLock { $0 = updated }
        observer.withLock { $0 }?(updated)
        return updated
    }

    /// An automatic trigger: turns the mode on (once) and says why.
    public func trigger(_ reason: String) {
        let changed: ModeState? = state.withLock { state in
            guard !state.conservative else { return nil }
            state = ModeState(conservative: true, reason: reason, source: .automatic)
            return state
        }
        if let changed { observer.withLock { $0 }?(changed) }
    }
}
