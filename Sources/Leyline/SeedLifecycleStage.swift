/// Where a seed is in its lifecycle (Kasmina owns the transitions).
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum SeedLifecycleStage: Int32, LeylineEnum {
    case unknown = 0
    case germinating = 1
    case training = 2
    case grafting = 3
    case stabilizing = 4
    case evaluating = 5
    case fineTuning = 6
    case fossilized = 7
    case culling = 8
    case cancelled = 9

    public static let protoNames = [
        "SEED_STAGE_UNKNOWN",
        "SEED_STAGE_GERMINATING",
        "SEED_STAGE_TRAINING",
        "SEED_STAGE_GRAFTING",
        "SEED_STAGE_STABILIZING",
        "SEED_STAGE_EVALUATING",
        "SEED_STAGE_FINE_TUNING",
        "SEED_STAGE_FOSSILIZED",
        "SEED_STAGE_CULLING",
        "SEED_STAGE_CANCELLED",
    ]
}
