/// The conv-branch blueprints (Karn's `structure` family, BP054–BP056): their geometry, shared
/// by Karn (the templates), Tolaria (`model.branches` names them) and Kasmina (builds the seeds).
/// Each is the MNIST-1D paper's CNN stage at k channels: conv1d kernels 5, 3, 3, stride 2,
/// padding 1, ReLU, over the slot layer's input read as a one-channel signal, flattened, then a
/// linear map to the next layer's pre-activation that starts at zero.
public struct ConvBranchBlueprint: Sendable, Equatable {
    public var id: String
    public var alias: String
    public var channels: Int
    public var kernelSizes: [Int]
    public var stride: Int
    public var padding: Int

    /// In registration order after the widening family (BP051–BP053).
    public static let all: [ConvBranchBlueprint] = [8, 16, 25].enumerated().map { index, channels in
        ConvBranchBlueprint(
            id: "BP0\(54 + index)", alias: "conv-branch-\(channels)", channels: channels, kernelSizes: [5, 3, 3], stride: 2,
            padding: 1)
    }

    /// By template id (`BP055`) or alias (`conv-branch-16`); nil for any other blueprint.
    public static func named(_ id: String) -> ConvBranchBlueprint? { all.first { $0.id == id || $0.alias == id } }

    /// ΔParams over a signal whose flattened last conv output is `flat` floats, into `outputs`:
    /// Σ_i (k·kernel_i·c_in,i + k) + outputs·flat, c_in = 1 then k.
    public func parameterCount(flat: Int, outputs: Int) -> Int {
        var count = 0, inputChannels = 1
        for kernel in kernelSizes {
            count += channels * kernel * inputChannels + channels
            inputChannels = channels
        }
        return count + outputs * flat
    }

    /// The formula as the catalog publishes it (`parameter_count` of the template JSON).
    public var formula: String {
        "Σ_i (k·kernel_i·c_in,i + k) + d_out·k·L_out, k = \(channels), kernels \(kernelSizes.map(String.init).joined(separator: ",")), stride \(stride), padding \(padding), c_in = 1 then k, L_out the last conv length over d_in positions"
    }
}
