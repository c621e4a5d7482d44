public import EsperJSON

/// Payload of a seed command: which lifecycle operation, with which blueprint.
public struct CommandSeedOperation: LeylineMessage {
    public var operation: SeedOperation
    public var blueprintId: String
    public var parameters: [String: Float]

    public init(operation: SeedOperation = .unknown, blueprintId: String = "", parameters: [String: Float] = [:]) {
        self.operation = operation
        self.blueprintId = blueprintId
        self.parameters = parameters
    }

    public static let fields = LeylineFields(
        CommandSeedOperation(),
        [
            .field("operation", \.operation, .known),
            .field("blueprint_id", \.blueprintId, .optionalIdentifier),
            .field("parameters", \.parameters),
        ])
}

/// Payload of an optimizer command: new hyperparameter values.
public struct CommandOptimizerAdjustment: LeylineMessage {
    public var optimizerId: String
    public var hyperparameters: [String: Float]

    public init(optimizerId: String = "", hyperparameters: [String: Float] = [:]) {
        self.optimizerId = optimizerId
        self.hyperparameters = hyperparameters
    }

    public static let fields = LeylineFields(
        CommandOptimizerAdjustment(),
        [.field("optimizer_id", \.optimizerId, .optionalIdentifier), .field("hyperparameters", \.hyperparameters)])
}

/// Payload of a circuit-breaker command: the state the executor should put its breaker in.
public struct CommandCircuitBreaker: LeylineMessage {
    public var desiredState: CircuitBreakerState
    public var rationale: String

    public init(desiredState: CircuitBreakerState = .unknown, rationale: String = "") {
        self.desiredState = desiredState
        self.rationale = rationale
    }

    public static let fields = LeylineFields(
        CommandCircuitBreaker(), [.field("desired_state", \.desiredState, .known), .field("rationale", \.rationale)])
}

/// The `payload` oneof of `AdaptationCommand`: at most one member is present in JSON.
public enum CommandPayload: Sendable, Equatable {
    case seedOperation(CommandSeedOperation)
    case optimizerAdjustment(CommandOptimizerAdjustment)
    case circuitBreaker(CommandCircuitBreaker)
    /// `google.protobuf.Struct`: any JSON object.
    case rollbackPayload([String: JSONValue])
}
