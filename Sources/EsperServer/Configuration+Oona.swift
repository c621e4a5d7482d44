import Foundation
import Leyline
public import Oona

/// The numbers of the Oona bus that operators tune (`OONA_*`); stream names and the signing
/// secret live beside them in `Configuration`.
public struct OonaLimits: Sendable, Equatable {
    /// nil: unbounded.
    public var maxStreamLength: Int? = SystemLimits.standard.maxQueueDepth
    /// nil: no rerouting.
    public var emergencyThreshold: Int? = 4000
    /// nil: no dropping.
    public var dropThreshold: Int? = 8000
    public var messageTTLSeconds = 3600
    public var claimMinIdleMilliseconds = 30_000
    public var maxAttempts = SystemLimits.standard.maxRetryAttempts
    public var breakerRecoveryMilliseconds = Int(PerformanceBudgets.standard.breakerResetSeconds) * 1000
    /// How often publishers measure the backlogs (ms); 0: every batch.
    public var backlogRefreshMilliseconds = 100
    /// Backlog that switches conservative mode on by itself; nil: half the emergency
    /// threshold (2000 without one); 0: never automatically.
    public var conservativeBacklog: Int?

    public init() {}
}

extension Configuration {
    mutating func applyOona(_ values: [String: String]) throws(ConfigurationError) {
        let settings = ConfigurationValues(values: values)
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? { try settings.integer(name, range) }
        // 0 switches a bound off.
        if let value = try integer("OONA_MAX_STREAM_LENGTH", 0...100_000_000) { oonaLimits.maxStreamLength = value == 0 ? nil : value }
        if let value = try integer("OONA_EMERGENCY_THRESHOLD", 0...100_000_000) { oonaLimits.emergencyThreshold = value == 0 ? nil : value }
        if let value = try integer("OONA_DROP_THRESHOLD", 0...100_000_000) { oonaLimits.dropThreshold = value == 0 ? nil : value }
        if let value = try integer("OONA_MESSAGE_TTL_S", 1...30 * 86_400) { oonaLimits.messageTTLSeconds = value }
        if let value = try integer("OONA_CLAIM_MIN_IDLE_MS", 1...86_400_000) { oonaLimits.claimMinIdleMilliseconds = value }
        if let value = try integer("OONA_MAX_ATTEMPTS", 1...100) { oonaLimits.maxAttempts = value }
        if let value = try integer("OONA_BREAKER_RECOVERY_MS", 1...3_600_000) { oonaLimits.breakerRecoveryMilliseconds = value }
        if let value = try integer("OONA_BACKLOG_REFRESH_MS", 0...60_000) { oonaLimits.backlogRefreshMilliseconds = value }
        if let value = try integer("OONA_CONSERVATIVE_BACKLOG", 0...100_000_000) { oonaLimits.conservativeBacklog = value }

        if let previous = values["ESPER_LEYLINE_PREVIOUS_SECRET"] {
            guard leylineSecret != nil else {
                throw ConfigurationError(variable: "ESPER_LEYLINE_PREVIOUS_SECRET", message: "is set but ESPER_LEYLINE_SECRET is not")
            }
            guard previous.utf8.count >= 32 else {
                throw ConfigurationError(
                    variable: "ESPER_LEYLINE_PREVIOUS_SECRET", message: "is \(previous.utf8.count) bytes; a signing key needs at least 32")
            }
            leylinePreviousSecrets = [previous]
        }

        // The same rules the client enforces, reported at start with the variables' names.
        let problems = oonaConfiguration().problems
        if let problem = problems.first {
            throw ConfigurationError(
                variable: "OONA_*",
                message:
                    problem
                    .replacingOccurrences(of: "backpressure_drop_threshold", with: "OONA_DROP_THRESHOLD")
                    .replacingOccurrences(of: "emergency_threshold", with: "OONA_EMERGENCY_THRESHOLD")
                    .replacingOccurrences(of: "max_stream_length", with: "OONA_MAX_STREAM_LENGTH"))
        }
    }

    /// The Oona client settings this configuration describes.
    public func oonaConfiguration() -> OonaConfiguration {
        var bus = OonaConfiguration()
        bus.streams = OonaStreamNames(
            normal: streams.normal, emergency: streams.emergency, telemetry: streams.telemetry, policy: streams.policy)
        bus.sourceSubsystem = "esper"
        bus.maxStreamLength = oonaLimits.maxStreamLength
        bus.emergencyThreshold = oonaLimits.emergencyThreshold
        bus.backpressureDropThreshold = oonaLimits.dropThreshold
        bus.messageTTL = .seconds(oonaLimits.messageTTLSeconds)
        bus.claimMinIdle = .milliseconds(oonaLimits.claimMinIdleMilliseconds)
        // Look for idle entries at least twice per claim timeout: a dead worker's job is
        // taken over within 1.5 timeouts.
        bus.claimInterval = min(.seconds(5), .milliseconds(max(50, oonaLimits.claimMinIdleMilliseconds / 2)))
        bus.maxAttempts = oonaLimits.maxAttempts
        bus.breakerRecovery = .milliseconds(oonaLimits.breakerRecoveryMilliseconds)
        bus.queueDepthTelemetryInterval = .seconds(10)
        bus.backlogRefreshInterval = .milliseconds(oonaLimits.backlogRefreshMilliseconds)
        switch oonaLimits.conservativeBacklog {
        case 0?: bus.conservativeOnBacklog = nil
        case let value?: bus.conservativeOnBacklog = value
        case nil: bus.conservativeOnBacklog = max(1, (oonaLimits.emergencyThreshold ?? 4000) / 2)
        }
        if let secret = leylineSecret {
            // Configuration checked the secrets are non-empty; a failure here cannot happen.
            bus.signer = try? LeylineSigner(secret: secret, previousSecrets: leylinePreviousSecrets)
        }
        return bus
    }
}
