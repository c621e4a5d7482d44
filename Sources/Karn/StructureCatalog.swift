/// The structure family (after the widening family): BP054–BP056 graft a conv branch beside a
/// host layer — `conv-branch-8`, `conv-branch-16`, `conv-branch-25`, the MNIST-1D paper's CNN
/// stage at k channels (geometry in Leyline's `ConvBranchBlueprint`). SAFE (function-preserving
/// until blended: its linear map starts at zero), risk 0.15, no parameters. Like widening, the
/// kernel is shaped by the host (the slot layer's input length, the next layer's width), so
/// Tezzeret does not compile it; Kasmina builds it at germination.
import Leyline

public enum StructureCatalog {
    /// Family name in the template JSON (`family`).
    public static let family = "structure"
    /// Kernel kind recorded in a conv-branch seed's origin.
    public static let kind = "conv_branch"

    static let rows: [BlueprintTemplate] = ConvBranchBlueprint.all.map { entry in
        WideningCatalog.hostShapedRow(
            entry.id, name: "conv_branch_\(entry.channels)_channels", risk: 0.15,
            description:
                "Graft a conv branch (\(entry.kernelSizes.count) conv1d layers of \(entry.channels) channels, stride \(entry.stride)) on a host layer's input, joining the next layer's pre-activation",
            recipe: .convBranch(channels: entry.channels))
    }

    /// The structure rows' own rules: those of every host-shaped family with a conv-branch recipe.
    static func check(_ rows: [BlueprintTemplate], after earlier: [BlueprintTemplate]) throws(KarnError) {
        try WideningCatalog.checkHostShaped(rows, after: earlier, family: family) { recipe in
            if case .convBranch(let channels) = recipe, channels >= 1 { return true }
            return false
        }
    }
}
