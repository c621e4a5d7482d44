/// The widening family (beyond 05 §3's 50 templates): BP051-BP053 add 4, 8 or 16 hidden units
/// beside a host layer, Net2Net-style. SAFE (function-preserving until blended: c and V start
/// at zero), risk 0.1, no parameters — the number of units is the template. Each keeps the
/// short name Tamiyo's `seeds.blueprints` and older runs use (`widen-8`) as an alias.
///
/// Unlike every other template a widening kernel is shaped by the host, not by the slot width:
/// it reads layer l's input (d_in features) and writes layer l+1's pre-activation (d_out), so it
/// has k·(d_in + 1) + d_out·k parameters. Tezzeret's forge does not compile these templates
/// (there is no host shape at forge time); Tezzeret compiles one at the shape a seed attaches
/// to (`HostShape`), and Kasmina runs it on the built-in C kernel.
import Leyline

public enum WideningCatalog {
    /// Family name in the template JSON (`family`); every other template is a `slot` template.
    public static let family = "widening"
    /// Kernel kind recorded in a widening seed's origin.
    public static let kind = "widen"

    /// Template id, alias, units — in registration order after BP050.
    public static let entries: [(id: String, alias: String, units: Int)] = [
        ("BP051", "widen-4", 4), ("BP052", "widen-8", 8), ("BP053", "widen-16", 16),
    ]

    static let rows: [BlueprintTemplate] = entries.map { entry in
        hostShapedRow(
            entry.id, name: "widen_\(entry.units)_units", risk: 0.1,
            description: "Widen a host layer by \(entry.units) hidden units (Net2Net, function-preserving)",
            recipe: .widen(units: entry.units))
    }

    /// A host-shaped family's row: SAFE, stage 1, no parameters (what `checkHostShaped` requires).
    static func hostShapedRow(_ id: String, name: String, risk: Float, description: String, recipe: KernelRecipe) -> BlueprintTemplate {
        let descriptor = BlueprintDescriptor(blueprintId: id, name: name, tier: .safe, risk: risk, stage: 1, description: description)
        return BlueprintTemplate(descriptor: descriptor, parameters: [], recipe: recipe)
    }

    /// Units added by a widening blueprint, by template id (`BP052`) or alias (`widen-8`); nil
    /// for any other blueprint.
    public static func units(_ blueprintId: String) -> Int? {
        entries.first { $0.id == blueprintId || $0.alias == blueprintId }?.units
    }

    /// The template id of an id or alias of a host-shaped blueprint (`widen-8` → `BP052`,
    /// `conv-branch-16` → `BP055`); nil for other blueprints.
    public static func templateId(_ blueprintId: String) -> String? {
        entries.first { $0.id == blueprintId || $0.alias == blueprintId }?.id ?? ConvBranchBlueprint.named(blueprintId)?.id
            ?? DepthCatalog.named(blueprintId)?.id
    }

    /// The alias of a host-shaped template id (`BP052` → `widen-8`, `BP055` → `conv-branch-16`).
    public static func alias(_ templateId: String) -> String? {
        entries.first { $0.id == templateId }?.alias ?? ConvBranchBlueprint.all.first { $0.id == templateId }?.alias
            ?? DepthCatalog.entries.first { $0.id == templateId }?.alias
    }

    /// ΔParams of a widening by `units` of a layer reading `inputs` and feeding `outputs`:
    /// U (units × inputs), c (units), V (outputs × units).
    public static func parameterCount(units: Int, inputs: Int, outputs: Int) -> Int {
        units * (inputs + 1) + outputs * units
    }

    /// The formula as the catalog publishes it (`parameter_count` of the template JSON).
    static func formula(units: Int) -> String { "k·(d_in + 1) + d_out·k, k = \(units)" }

    /// The widening rows' own rules: ids BP051… in order after the 50 defaults, SAFE without
    /// approval or quarantine, a widen recipe with at least one unit, no parameters, unique
    /// snake_case names, unique aliases.
    static func check(_ rows: [BlueprintTemplate], after defaults: [BlueprintTemplate]) throws(KarnError) {
        try checkHostShaped(rows, after: defaults, family: family) { recipe in
            if case .widen(let units) = recipe, units >= 1 { return true }
            return false
        }
        guard Set(entries.map(\.alias)).count == entries.count else { throw KarnError.invalidCatalog("widening aliases are not unique") }
    }

    /// The rules every host-shaped family's rows share: ids in order after the rows before
    /// them, SAFE without approval or quarantine, the family's recipe, no parameters, risk and
    /// stage in range, unique snake_case names.
    static func checkHostShaped(
        _ rows: [BlueprintTemplate], after defaults: [BlueprintTemplate], family: String, recipe isFamilyRecipe: (KernelRecipe) -> Bool
    ) throws(KarnError) {
        func fail(_ why: String) throws(KarnError) -> Never { throw KarnError.invalidCatalog(why) }
        var names = Set(defaults.map(\.descriptor.name))
        for (index, template) in rows.enumerated() {
            let d = template.descriptor
            let expectedId = BlueprintID.make(defaults.count + index + 1)
            guard d.blueprintId == expectedId else { try fail("\(family) entry \(index + 1) is \(d.blueprintId), expected \(expectedId)") }
            guard d.tier == .safe, !d.approvalRequired, !d.quarantineOnly else {
                try fail("\(d.blueprintId): \(family) templates are SAFE without approval or quarantine")
            }
            guard isFamilyRecipe(template.recipe) else { try fail("\(d.blueprintId): not a \(family) recipe") }
            guard template.parameters.isEmpty, d.allowedParameters.isEmpty else { try fail("\(d.blueprintId): takes parameters") }
            guard (0...1).contains(d.risk), (0...6).contains(d.stage) else { try fail("\(d.blueprintId): risk or stage out of range") }
            guard names.insert(d.name).inserted, d.name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" }) else {
                try fail("\(d.blueprintId): name '\(d.name)' is not a unique snake_case name")
            }
        }
    }
}

extension BlueprintTemplate {
    /// `widening`, `structure` and `depth` for the host-shaped templates, `slot` for the d → d kernels
    /// Tezzeret compiles.
    public var family: String {
        switch recipe {
        case .widen: WideningCatalog.family
        case .convBranch: StructureCatalog.family
        case .convInsert: DepthCatalog.family
        default: "slot"
        }
    }

    /// True when the kernel's shape comes from the host at germination (not compiled by the forge).
    public var isHostShaped: Bool {
        switch recipe {
        case .widen, .convBranch, .convInsert: true
        default: false
        }
    }
}
