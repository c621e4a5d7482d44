/// The depth family (after the structure family): BP057–BP058 insert a conv1d layer into a conv
/// host after one of its conv layers — `conv-insert-3`, `conv-insert-5` (the kernel size). The
/// layer is residual, `out = h + conv(h)`, over h's channels with 'same' padding and no
/// activation, its weights and bias zero at germination: SAFE (the identity until it has
/// learned something, and then only through α), risk 0.15, no parameters. Like the other
/// host-shaped families the kernel is shaped by the host (the conv layer's output length and
/// channels), so Tezzeret's forge does not compile it; Kasmina builds it at germination on
/// `ck_conv1d_*` and, fossilised, Tolaria makes it a host layer (`HostArchitecture.insertions`).
public enum DepthCatalog {
    /// Family name in the template JSON (`family`).
    public static let family = "depth"
    /// Kernel kind recorded in a depth seed's origin.
    public static let kind = "conv_insert"

    /// Template id, alias, kernel size — in registration order after the structure family.
    public static let entries: [(id: String, alias: String, kernelSize: Int)] = [
        ("BP057", "conv-insert-3", 3), ("BP058", "conv-insert-5", 5),
    ]

    /// The entry of a template id (`BP057`) or alias (`conv-insert-3`); nil for any other blueprint.
    public static func named(_ id: String) -> (id: String, alias: String, kernelSize: Int)? {
        entries.first { $0.id == id || $0.alias == id }
    }

    /// ΔParams of an inserted conv of kernel k over c channels: c·k·c weights + c biases.
    public static func parameterCount(kernelSize: Int, channels: Int) -> Int { channels * kernelSize * channels + channels }

    /// The formula as the catalog publishes it (`parameter_count` of the template JSON).
    static func formula(kernelSize: Int) -> String { "c·k·c + c, k = \(kernelSize), c the channels of the conv layer it follows" }

    static let rows: [BlueprintTemplate] = entries.map { entry in
        WideningCatalog.hostShapedRow(
            entry.id, name: "conv_insert_kernel_\(entry.kernelSize)", risk: 0.15,
            description:
                "Insert a residual conv1d layer (kernel \(entry.kernelSize), same channels, 'same' padding, identity at the start) after a host conv layer",
            recipe: .convInsert(kernelSize: entry.kernelSize))
    }

    /// The depth rows' own rules: those of every host-shaped family, with an odd kernel; unique aliases.
    static func check(_ rows: [BlueprintTemplate], after earlier: [BlueprintTemplate]) throws(KarnError) {
        try WideningCatalog.checkHostShaped(rows, after: earlier, family: family) { recipe in
            if case .convInsert(let kernelSize) = recipe, kernelSize >= 1, kernelSize % 2 == 1 { return true }
            return false
        }
        guard Set(entries.map(\.alias)).count == entries.count else { throw KarnError.invalidCatalog("depth aliases are not unique") }
    }
}
