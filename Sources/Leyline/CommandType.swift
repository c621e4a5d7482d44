/// What an `AdaptationCommand` asks the executor to do.
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum CommandType: Int32, LeylineEnum {
    case unknown = 0
    case seed = 1
    case rollback = 2
    case optimizer = 3
    case circuitBreaker = 4
    case pause = 5
    case emergency = 6
    case structuralPruning = 7

    public static let protoNames = [
        "COMMAND_UNKNOWN",
        "COMMAND_SEED",
        "COMMAND_ROLLBACK",
        "COMMAND_OPTIMIZER",
        "COMMAND_CIRCUIT_BREAKER",
        "COMMAND_PAUSE",
        "COMMAND_EMERGENCY",
        "COMMAND_STRUCTURAL_PRUNING",
    ]
}
