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
        let descriptor = BlueprintDescriptor(
            blueprintId: entry.id, name: "conv_branch_\(entry.channels)_channels", tier: .safe, risk: 0.15, stage: 1,
            description:
                "Graft a conv branch (\(entry.kernelSizes.count) conv1d layers of \(entry.channels) channels, stride \(entry.stride)) on a host layer's input, joining the next layer's pre-activation"
        )
        return BlueprintTemplate(descriptor: descriptor, parameters: [], recipe: .convBranch(channels: entry.channels))
    }

    /// The structure rows' own rules: ids in order after the rows before them, SAFE without
    /// approval or quarantine, a conv-branch recipe, no parameters, unique snake_case names.
    static func check(_ rows: [BlueprintTemplate], after earlier: [BlueprintTemplate]) throws(KarnError) {
        func fail(_ why: String) throws(KarnError) -> Never { throw KarnError.invalidCatalog(why) }
        var names = Set(earlier.map(\.descriptor.name))
        for (index, template) in rows.enumerated() {
            let d = template.descriptor
            let expectedId = BlueprintID.make(earlier.count + index + 1)
            guard d.blueprintId == expectedId else { try fail("structure entry \(index + 1) is \(d.blueprintId), expected \(expectedId)") }
            guard d.tier == .safe, !d.approvalRequired, !d.quarantineOnly else {
                try fail("\(d.blueprintId): structure templates are SAFE without approval or quarantine")
            }
            guard case .convBranch(let channels) = template.recipe, channels >= 1 else {
                try fail("\(d.blueprintId): not a conv-branch recipe")
            }
            guard template.parameters.isEmpty, d.allowedParameters.isEmpty else { try fail("\(d.blueprintId): takes parameters") }
            guard names.insert(d.name).inserted else { try fail("\(d.blueprintId): name '\(d.name)' is not unique") }
        }
    }
}
