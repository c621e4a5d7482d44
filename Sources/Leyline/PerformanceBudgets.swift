/// Latency budgets of the design ("Option B"). Constants: the proto declares only the names,
/// the values come from the design documents (`00-contracts.md` §6).
public struct PerformanceBudgets: Sendable, Equatable, Codable {
    public let epochBoundaryMs: UInt32
    public let tamiyoInferenceMs: UInt32
    public let systemstateAssemblyMs: UInt32
    public let adaptationProcessingMs: UInt32
    public let fastRollbackMs: UInt32
    public let fullRollbackSeconds: UInt32
    public let protobufSerializationUs: UInt32
    public let messageValidationUs: UInt32
    public let breakerTimeoutMs: UInt32
    public let breakerResetSeconds: UInt32
    public let importanceTrackingOverheadPercent: UInt32
    public let checkpointAnalysisMinutesMin: UInt32
    public let checkpointAnalysisMinutesMax: UInt32
    public let structuredValidationSeconds: UInt32
    public let rollbackCoordinationSeconds: UInt32

    public static let standard = PerformanceBudgets(
        epochBoundaryMs: 18, tamiyoInferenceMs: 12, systemstateAssemblyMs: 3, adaptationProcessingMs: 2,
        fastRollbackMs: 500, fullRollbackSeconds: 12, protobufSerializationUs: 80, messageValidationUs: 20,
        breakerTimeoutMs: 1000, breakerResetSeconds: 30, importanceTrackingOverheadPercent: 1,
        checkpointAnalysisMinutesMin: 2, checkpointAnalysisMinutesMax: 5, structuredValidationSeconds: 60,
        rollbackCoordinationSeconds: 30)
}
