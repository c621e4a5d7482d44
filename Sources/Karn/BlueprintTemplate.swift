/// A catalog entry: the shared-contract descriptor, the typed parameters behind its
/// `allowed_parameters`, and the recipe Tezzeret compiles it with.
public import Leyline

public struct BlueprintTemplate: Sendable, Equatable, Encodable {
    public var descriptor: BlueprintDescriptor
    /// Parameters in declaration order.
    public var parameters: [TemplateParameter]
    public var recipe: KernelRecipe

    public init(descriptor: BlueprintDescriptor, parameters: [TemplateParameter], recipe: KernelRecipe) {
        self.descriptor = descriptor
        self.parameters = parameters
        self.recipe = recipe
    }

    /// A custom entry registered from a bare descriptor: every parameter real, compiled as an
    /// identity kernel (the reference design's behaviour for such entries).
    public init(descriptor: BlueprintDescriptor) {
        self.descriptor = descriptor
        parameters = descriptor.allowedParameters.keys.sorted().map { name in
            let bounds = descriptor.allowedParameters[name]!
            return TemplateParameter(name, bounds.minValue, bounds.maxValue, .real)
        }
        recipe = .identity
    }

    public var id: String { descriptor.blueprintId }
    public var tier: BlueprintTier { descriptor.tier }
    public var kind: String { recipe.kind }

    public func parameter(_ name: String) -> TemplateParameter? { parameters.first { $0.name == name } }

    /// The forge's request: the midpoint of every bound (05 §3).
    public var forgeParameters: [String: Double] {
        Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0.forgeDefault) })
    }

    enum CodingKeys: String, CodingKey { case kind, parameters, family, alias, parameterCount }

    /// The descriptor's fields, plus `kind`, `family` and `parameters` (type, bounds, forge
    /// default); a widening template adds its `alias` and its `parameter_count` formula.
    public func encode(to encoder: any Encoder) throws {
        try descriptor.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(family, forKey: .family)
        try c.encode(Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) }), forKey: .parameters)
        if case .widen(let units) = recipe {
            try c.encodeIfPresent(WideningCatalog.alias(id), forKey: .alias)
            try c.encode(WideningCatalog.formula(units: units), forKey: .parameterCount)
        }
        if case .convBranch = recipe, let entry = ConvBranchBlueprint.named(id) {
            try c.encode(entry.alias, forKey: .alias)
            try c.encode(entry.formula, forKey: .parameterCount)
        }
        if case .convInsert(let kernelSize) = recipe, let entry = DepthCatalog.named(id) {
            try c.encode(entry.alias, forKey: .alias)
            try c.encode(DepthCatalog.formula(kernelSize: kernelSize), forKey: .parameterCount)
        }
    }
}
