import Karn
import KernelRuntime

/// A shape rule that failed, naming the template parameter behind it (nil for fixed sizes).
struct ShapeError: Error {
    let parameter: String?
    let message: String
}

/// Interprets a template's `KernelRecipe` for a slot width: the kernel kind and every size,
/// from the effective parameters (06 §4 step 3). One rule per kind, none per template.
enum ShapeBuilder {
    /// The kernel spec of `template` at width `d` with these effective parameters.
    static func spec(for template: BlueprintTemplate, effective: [String: Double], width d: Int) throws(ShapeError) -> KernelSpec {
        guard let kind = KernelKind(rawValue: template.kind) else {
            throw ShapeError(parameter: nil, message: "no kernel kind '\(template.kind)'")
        }
        func value(_ name: String) throws(ShapeError) -> Double {
            guard let v = effective[name], v.isFinite else { throw ShapeError(parameter: name, message: "has no value") }
            return v
        }
        func integer(_ name: String) throws(ShapeError) -> Int {
            let v = try value(name).rounded(.toNearestOrAwayFromZero)
            guard abs(v) < 1e9 else { throw ShapeError(parameter: name, message: "\(v) is too large") }
            return Int(v)
        }
        func size(_ rule: RecipeSize) throws(ShapeError) -> Int {
            switch rule {
            case .fixed(let n): return n
            case .parameter(let p): return try integer(p)
            case .oddWindow(let r): return 2 * (try integer(r)) + 1
            case .powerOfTwo(let p):
                let exponent = try integer(p)
                guard (0...20).contains(exponent) else { throw ShapeError(parameter: p, message: "2^\(exponent) is out of range") }
                return 1 << exponent
            case .widthTimes(let k): return d * k
            case .widthOver(let k): return max(1, d / k)
            case .widthTimesParameter(let p): return Int((Double(d) * (try value(p))).rounded(.toNearestOrAwayFromZero))
            case .widthOverParameter(let p):
                let divisor = try integer(p)
                guard divisor >= 1 else { throw ShapeError(parameter: p, message: "must be at least 1") }
                return max(1, d / divisor)
            case .widthDividedByParameter(let p):
                let divisor = try integer(p)
                guard divisor >= 1, d % divisor == 0 else {
                    throw ShapeError(parameter: p, message: "\(divisor) does not divide the seed width \(d)")
                }
                return d / divisor
            case .largestDivisorOfWidthAtMost(let k): return (1...max(1, min(k, d))).last { d % $0 == 0 } ?? 1
            }
        }
        func divides(_ n: Int, _ rule: RecipeSize, what: String) throws(ShapeError) {
            guard n >= 1, d % n == 0 else {
                throw ShapeError(parameter: rule.parameterName, message: "\(what) \(n) must divide the seed width \(d)")
            }
        }
        func activation(_ a: RecipeActivation) -> KernelActivation {
            switch a {
            case .relu: .relu
            case .gelu: .gelu
            case .tanh: .tanh
            }
        }

        var spec = KernelSpec(kind: kind, width: d)
        switch template.recipe {
        case .identity:
            break
        case .linear(let p), .layerNorm(let p), .dropout(let p), .batchNorm(let p), .layerScale(let p),
            .highway(let p), .positional(let p), .nasMixture(let p):
            spec.scalar = Float(try value(p))
        case .activation(let a):
            spec.activation = activation(a)
        case .maxPool(let p):
            spec.window = try integer(p)
        case .groupedLinear(let p):
            spec.count = try integer(p)
            try divides(spec.count, .parameter(p), what: "groups")
        case .residualMLP(let layers, let hidden, let a):
            spec.count = try size(layers)
            spec.hidden = spec.count > 0 ? try size(hidden) : 0
            spec.activation = activation(a)
        case .gatedFFN(let hidden):
            spec.hidden = try size(hidden)
            spec.activation = .gelu
        case .conv1d(let window, let dilation, let channels, let causal, let a):
            spec.window = try size(window)
            spec.dilation = try size(dilation)
            spec.hidden = channels
            spec.causal = causal
            spec.activation = activation(a)
        case .squeezeExcite(let hidden):
            spec.hidden = try size(hidden)
        case .sliceAttention(let tokens, let rounds):
            spec.count = try size(tokens)
            try divides(spec.count, tokens, what: "tokens")
            spec.rounds = try size(rounds)
        case .memoryAttention(let p):
            spec.hidden = try integer(p)
        case .mixture(let experts, let topK):
            spec.count = try integer(experts)
            spec.topK = try topK.map { (rule) throws(ShapeError) in try size(rule) } ?? spec.count
            guard (1...max(1, spec.count)).contains(spec.topK) else {
                throw ShapeError(parameter: topK?.parameterName, message: "top-k \(spec.topK) must be in 1...\(spec.count) experts")
            }
        case .poolProject(let bins, let levels):
            spec.hidden = try size(bins)
            spec.count = try size(levels)
            guard spec.count >= 1, spec.count <= 8, spec.hidden >= 1, spec.hidden << (spec.count - 1) <= d else {
                throw ShapeError(
                    parameter: bins.parameterName ?? levels.parameterName,
                    message: "\(spec.hidden) bins over \(spec.count) levels need more than \(d) features")
            }
        case .denseBlock(let growth, let layers):
            spec.hidden = try integer(growth)
            spec.count = layers
        case .recurrent(let steps, let stepSize):
            spec.count = try integer(steps)
            spec.hidden = d
            spec.scalar = stepSize == .one ? 1 : 1 / Float(max(1, spec.count))
        case .widen, .convBranch, .convInsert:
            throw ShapeError(parameter: nil, message: "a \(template.recipe.kind) kernel is shaped by the host, not by the slot width")
        case .fault(let fault, let p):
            switch fault {
            case .spin, .hang, .deadlock, .race: spec.iterations = try integer(p)
            case .exploding, .vanishing, .nan, .leak, .noise: spec.scalar = Float(try value(p))
            }
        }
        do {
            try spec.validate()
        } catch {
            let parameters = template.recipe.parameterNames
            let huge = spec.parameterCount == 0 && spec.kind != .identity
            throw ShapeError(
                parameter: parameters.count == 1 ? parameters[0] : nil,
                message: huge ? "the kernel \(spec) is invalid or exceeds the 100 MB parameter cap" : "\(error)")
        }
        return spec
    }

    /// The forge's spec: midpoint parameters, with an integer parameter that breaks a shape
    /// rule snapped to the nearest valid value inside its bounds (the lower one on a tie, 05 §4).
    /// Returns the spec, the effective values actually used, and what was snapped.
    static func forgeSpec(
        for template: BlueprintTemplate, effective: [String: Double], width d: Int
    ) throws(ShapeError)
        -> (spec: KernelSpec, effective: [String: Double], snapped: [String: [Double]])
    {
        var current = effective
        var snapped: [String: [Double]] = [:]
        for _ in 0...template.parameters.count {
            do {
                return (try spec(for: template, effective: current, width: d), current, snapped)
            } catch {
                guard let name = error.parameter, snapped[name] == nil, let parameter = template.parameter(name),
                    parameter.type == .integer, let value = current[name]
                else { throw error }
                let low = Int(parameter.bounds.minValue.rounded(.up)), high = Int(parameter.bounds.maxValue.rounded(.down))
                guard low <= high else { throw error }
                let candidates = (low...high).map(Double.init).filter { $0 != value }
                    .sorted { (abs($0 - value), $0) < (abs($1 - value), $1) }
                var found: Double?
                for candidate in candidates {
                    var trial = current
                    trial[name] = candidate
                    if (try? spec(for: template, effective: trial, width: d)) != nil {
                        found = candidate
                        break
                    }
                }
                guard let found else { throw error }
                snapped[name] = [value, found]
                current[name] = found
            }
        }
        return (try spec(for: template, effective: current, width: d), current, snapped)
    }
}
