public import EsperJSON

/// Payload of a seed command: which lifecycle operation, with which blueprint.
public struct CommandSeedOperation: Sendable, Equatable, Codable, LeylineValidatable {
    public var operation: SeedOperation
    public var blueprintId: String
    public var parameters: [String: Float]

    public init(operation: SeedOperation = .unknown, blueprintId: String = "", parameters: [String: Float] = [:]) {
        self.operation = operation
        self.blueprintId = blueprintId
        self.parameters = parameters
    }

    enum CodingKeys: String, CodingKey { case operation, blueprintId = "blueprint_id", parameters }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        operation = try c.field(.operation, or: .unknown)
        blueprintId = try c.field(.blueprintId, or: "")
        parameters = try c.field(.parameters, or: [:])
    }

    public func validate(_ v: inout LeylineValidator) {
        v.known("operation", operation)
        v.optionalIdentifier("blueprint_id", blueprintId)
        v.metrics("parameters", parameters)
    }
}

/// Payload of an optimizer command: new hyperparameter values.
public struct CommandOptimizerAdjustment: Sendable, Equatable, Codable, LeylineValidatable {
    public var optimizerId: String
    public var hyperparameters: [String: Float]

    public init(optimizerId: String = "", hyperparameters: [String: Float] = [:]) {
        self.optimizerId = optimizerId
        self.hyperparameters = hyperparameters
    }

    enum CodingKeys: String, CodingKey { case optimizerId = "optimizer_id", hyperparameters }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        optimizerId = try c.field(.optimizerId, or: "")
        hyperparameters = try c.field(.hyperparameters, or: [:])
    }

    public func validate(_ v: inout LeylineValidator) {
        v.optionalIdentifier("optimizer_id", optimizerId)
        v.metrics("hyperparameters", hyperparameters)
    }
}

/// Payload of a circuit-breaker command: the state the executor should put its breaker in.
public struct CommandCircuitBreaker: Sendable, Equatable, Codable, LeylineValidatable {
    public var desiredState: CircuitBreakerState
    public var rationale: String

    public init(desiredState: CircuitBreakerState = .unknown, rationale: String = "") {
        self.desiredState = desiredState
        self.rationale = rationale
    }

    enum CodingKeys: String, CodingKey { case desiredState = "desired_state", rationale }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        desiredState = try c.field(.desiredState, or: .unknown)
        rationale = try c.field(.rationale, or: "")
    }

    public func validate(_ v: inout LeylineValidator) {
        v.known("desired_state", desiredState)
    }
}

/// The `payload` oneof of `AdaptationCommand`: at most one member is present in JSON.
public enum CommandPayload: Sendable, Equatable {
    case seedOperation(CommandSeedOperation)
    case optimizerAdjustment(CommandOptimizerAdjustment)
    case circuitBreaker(CommandCircuitBreaker)
    /// `google.protobuf.Struct`: any JSON object.
    case rollbackPayload([String: JSONValue])
}

// Direct JSON coding (see LeylineJSONWriter/Reader); keys in sorted order.
extension CommandSeedOperation: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["blueprint_id", "operation", "parameters"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("blueprint_id"); w.string(blueprintId)
        w.key("operation"); w.value(operation)
        w.key("parameters"); w.floatMap(parameters)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(CommandSeedOperation.jsonFields, &cursor) {
            switch field {
            case 0: blueprintId = try r.string()
            case 1: operation = try r.value(SeedOperation.self)
            case 2: parameters = try r.floatMap()
            default: break
            }
        }
    }
}

extension CommandOptimizerAdjustment: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["hyperparameters", "optimizer_id"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("hyperparameters"); w.floatMap(hyperparameters)
        w.key("optimizer_id"); w.string(optimizerId)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(CommandOptimizerAdjustment.jsonFields, &cursor) {
            switch field {
            case 0: hyperparameters = try r.floatMap()
            case 1: optimizerId = try r.string()
            default: break
            }
        }
    }
}

extension CommandCircuitBreaker: LeylineJSONCodable {
    static let jsonFields = LeylineFieldTable(["desired_state", "rationale"])

    public func write(to w: inout LeylineJSONWriter) {
        w.beginObject()
        w.key("desired_state"); w.value(desiredState)
        w.key("rationale"); w.string(rationale)
        w.endObject()
    }

    public init(reading r: inout LeylineJSONReader) throws(LeylineJSONError) {
        self.init()
        var cursor = try r.beginObject()
        while let field = try r.nextField(CommandCircuitBreaker.jsonFields, &cursor) {
            switch field {
            case 0: desiredState = try r.value(CircuitBreakerState.self)
            case 1: rationale = try r.string()
            default: break
            }
        }
    }
}
