/// A lifecycle operation on one seed (payload of a seed command).
/// Numbers are wire-stable (append-only; 0 stays unknown).
public enum SeedOperation: Int32, LeylineEnum {
    case unknown = 0
    case germinate = 1
    case startTraining = 2
    case startGrafting = 3
    case stabilize = 4
    case evaluate = 5
    case fineTune = 6
    case fossilize = 7
    case cull = 8
    case cancel = 9

    public static let protoNames = [
        "SEED_OP_UNKNOWN",
        "SEED_OP_GERMINATE",
        "SEED_OP_START_TRAINING",
        "SEED_OP_START_GRAFTING",
        "SEED_OP_STABILIZE",
        "SEED_OP_EVALUATE",
        "SEED_OP_FINE_TUNE",
        "SEED_OP_FOSSILIZE",
        "SEED_OP_CULL",
        "SEED_OP_CANCEL",
    ]
}
