public import Leyline
// Karn: the blueprint catalog — 50 fixed templates (id, tier, risk, stage, typed parameter
// bounds, kernel recipe) plus the widening family BP051-BP053, request validation and
// deterministic template selection. Karn never
// generates or mutates architectures; Tezzeret compiles its templates and Urza stores them.
import Synchronization

/// The catalog: templates in registration order. Thread-safe; every read returns copies.
public final class KarnCatalog: Sendable {
    /// `last_updated` of the built-in templates (the revision of `DefaultCatalog`).
    public static let catalogRevision = "2025-09-20T00:00:00Z"

    private struct State {
        var order: [String] = []
        var templates: [String: BlueprintTemplate] = [:]
    }

    private let state: Mutex<State>

    /// With `loadDefaults`, the 50 templates of 05 §3 then the widening family, checked against
    /// the catalog rules first (a broken table is a programming error the server refuses to
    /// start with).
    public init(loadDefaults: Bool = true) throws(KarnError) {
        var initial = State()
        if loadDefaults {
            try KarnCatalog.check(DefaultCatalog.rows)
            try WideningCatalog.check(WideningCatalog.rows, after: DefaultCatalog.rows)
            try StructureCatalog.check(StructureCatalog.rows, after: DefaultCatalog.rows + WideningCatalog.rows)
            try DepthCatalog.check(DepthCatalog.rows, after: DefaultCatalog.rows + WideningCatalog.rows + StructureCatalog.rows)
            for template in DefaultCatalog.rows + WideningCatalog.rows + StructureCatalog.rows + DepthCatalog.rows {
                initial.order.append(template.id)
                initial.templates[template.id] = template
            }
        }
        state = Mutex(initial)
    }

    /// Inserts or replaces by id; a replaced id keeps its position.
    public func register(_ template: BlueprintTemplate) {
        state.withLock { state in
            if state.templates[template.id] == nil { state.order.append(template.id) }
            state.templates[template.id] = template
        }
    }

    /// Registers a bare descriptor (compiled as an identity kernel).
    public func register(_ descriptor: BlueprintDescriptor) { register(BlueprintTemplate(descriptor: descriptor)) }

    /// No-op for unknown ids.
    public func remove(_ id: String) {
        state.withLock { state in
            if state.templates.removeValue(forKey: id) != nil { state.order.removeAll { $0 == id } }
        }
    }

    /// By id; a widening alias (`widen-8`) finds its template (`BP052`).
    public func template(_ id: String) -> BlueprintTemplate? {
        let key = WideningCatalog.templateId(id) ?? id
        return state.withLock { state in state.templates[id] ?? state.templates[key] }
    }

    public func get(_ id: String) -> BlueprintDescriptor? { template(id)?.descriptor }

    /// Every template in registration order.
    public func all() -> [BlueprintTemplate] {
        state.withLock { state in state.order.compactMap { state.templates[$0] } }
    }

    public func listByTier(_ tier: BlueprintTier) -> [BlueprintTemplate] { all().filter { $0.tier == tier } }

    public var count: Int { state.withLock { $0.order.count } }

    /// 05 §5 for a catalog id.
    public func validateRequest(
        id: String, parameters: [String: Double],
        strictness: ParameterStrictness = .strict
    ) throws(KarnError) -> ValidatedRequest {
        guard let template = template(id) else { throw KarnError.notFound(id) }
        return try template.validate(parameters, strictness: strictness)
    }

    /// The rules of 05 §2-§4 the built-in table must satisfy.
    static func check(_ rows: [BlueprintTemplate]) throws(KarnError) {
        func fail(_ why: String) throws(KarnError) -> Never { throw KarnError.invalidCatalog(why) }
        guard rows.count == 50 else { try fail("\(rows.count) templates, expected 50") }
        let tierCounts = Dictionary(grouping: rows, by: \.tier).mapValues(\.count)
        guard tierCounts[.safe] == 35, tierCounts[.experimental] == 7, tierCounts[.highRisk] == 8 else {
            try fail("tier counts \(tierCounts), expected 35 SAFE, 7 EXPERIMENTAL, 8 HIGH_RISK")
        }
        var names = Set<String>()
        for (index, template) in rows.enumerated() {
            let d = template.descriptor
            let expectedId = BlueprintID.make(index + 1)
            guard d.blueprintId == expectedId else { try fail("entry \(index + 1) is \(d.blueprintId), expected \(expectedId)") }
            let expectedTier: BlueprintTier = index < 35 ? .safe : (index < 42 ? .experimental : .highRisk)
            guard d.tier == expectedTier else { try fail("\(d.blueprintId) is \(d.tier), expected \(expectedTier)") }
            guard d.approvalRequired == (d.tier != .safe), d.quarantineOnly == (d.tier == .highRisk) else {
                try fail("\(d.blueprintId): approval/quarantine flags do not match tier \(d.tier)")
            }
            guard (0...1).contains(d.risk), (0...6).contains(d.stage) else { try fail("\(d.blueprintId): risk or stage out of range") }
            guard names.insert(d.name).inserted, !d.name.isEmpty,
                d.name.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" })
            else {
                try fail("\(d.blueprintId): name '\(d.name)' is not a unique snake_case name")
            }
            for parameter in template.parameters {
                guard parameter.bounds.minValue.isFinite, parameter.bounds.maxValue.isFinite,
                    parameter.bounds.minValue <= parameter.bounds.maxValue
                else {
                    try fail("\(d.blueprintId).\(parameter.name): bounds are not a finite range")
                }
                guard d.allowedParameters[parameter.name] == parameter.bounds else {
                    try fail("\(d.blueprintId).\(parameter.name): descriptor bounds differ")
                }
            }
            guard d.allowedParameters.count == template.parameters.count else {
                try fail("\(d.blueprintId): duplicate parameter names")
            }
            let used = Set(template.recipe.parameterNames), declared = Set(template.parameters.map(\.name))
            guard used == declared else {
                try fail("\(d.blueprintId): recipe reads \(used.sorted()), template declares \(declared.sorted())")
            }
        }
    }
}
