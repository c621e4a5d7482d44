import Foundation

/// The slot and blueprint heads of the policy network over one row's trunk output h2, forward
/// and backward — the one definition Tamiyo's inference (`PolicyNetwork`) and Simic's PPO use.
///
/// slot_i = v · tanh(W [h2 ⊕ f_i] + b) over the slots' features f_i;
/// blueprint_c = (W_q h2 + b_q) · E[c] + w_m · m_c + b_m over the candidates' embedding rows
/// and metadata m_c. Plain loops: a handful of slots and candidates, 16-wide hidden layers.
public enum PolicyChoiceHeads {
    /// Scores of each slot (`slotFeatureDim` floats each) given `h2` (`hiddenDim` floats).
    public static func slotScores(
        h2: UnsafePointer<Float>, slots: [[Float]], config c: PolicyNetworkConfig, offsets o: PolicyOffsets,
        parameters p: UnsafePointer<Float>
    ) -> [Float] {
        slots.map { features in
            let u = slotHidden(h2: h2, features: features, config: c, offsets: o, parameters: p)
            var score: Float = 0
            for j in 0..<c.slotHiddenDim { score += p[o.slotScore + j] * u[j] }
            return score
        }
    }

    /// Scores of each candidate (embedding row, `blueprintFeatureDim` metadata floats) given `h2`.
    public static func blueprintScores(
        h2: UnsafePointer<Float>, blueprints: [(index: Int, features: [Float])], config c: PolicyNetworkConfig,
        offsets o: PolicyOffsets, parameters p: UnsafePointer<Float>
    ) -> [Float] {
        let q = query(h2: h2, config: c, offsets: o, parameters: p)
        return blueprints.map { candidate in
            precondition(candidate.features.count == c.blueprintFeatureDim, "expected \(c.blueprintFeatureDim) blueprint features")
            let row = p + o.blueprintEmbedding + embeddingRow(candidate.index, c) * c.embeddingDim
            var score = p[o.metaBias]
            for j in 0..<c.embeddingDim { score += q[j] * row[j] }
            for (j, v) in candidate.features.enumerated() { score += p[o.metaWeight + j] * (v.isFinite ? v : 0) }
            return score
        }
    }

    /// Accumulates into `g` (the parameters' layout) the gradients of Σ dSlot_i·slot_i +
    /// Σ dBlueprint_c·blueprint_c, and into `dh2` their gradient with respect to h2.
    public static func backward(
        h2: UnsafePointer<Float>, slots: [[Float]], slotGradient: [Float], blueprints: [(index: Int, features: [Float])],
        blueprintGradient: [Float], config c: PolicyNetworkConfig, offsets o: PolicyOffsets, parameters p: UnsafePointer<Float>,
        gradients g: UnsafeMutablePointer<Float>, dh2: UnsafeMutablePointer<Float>
    ) {
        let h = c.hiddenDim, width = c.hiddenDim + c.slotFeatureDim
        for (i, features) in slots.enumerated() where slotGradient[i] != 0 {
            let ds = slotGradient[i]
            let u = slotHidden(h2: h2, features: features, config: c, offsets: o, parameters: p)
            for j in 0..<c.slotHiddenDim {
                g[o.slotScore + j] += ds * u[j]
                let da = ds * p[o.slotScore + j] * (1 - u[j] * u[j])
                g[o.slotBias + j] += da
                let w = o.slotWeight + j * width
                for k in 0..<h {
                    g[w + k] += da * h2[k]
                    dh2[k] += da * p[w + k]
                }
                for k in 0..<c.slotFeatureDim { g[w + h + k] += da * finite(features[k]) }
            }
        }
        guard blueprintGradient.contains(where: { $0 != 0 }) else { return }
        let q = query(h2: h2, config: c, offsets: o, parameters: p)
        var dq = [Float](repeating: 0, count: c.embeddingDim)
        for (b, candidate) in blueprints.enumerated() where blueprintGradient[b] != 0 {
            let ds = blueprintGradient[b]
            let row = o.blueprintEmbedding + embeddingRow(candidate.index, c) * c.embeddingDim
            for j in 0..<c.embeddingDim {
                g[row + j] += ds * q[j]
                dq[j] += ds * p[row + j]
            }
            for (j, v) in candidate.features.enumerated() { g[o.metaWeight + j] += ds * finite(v) }
            g[o.metaBias] += ds
        }
        for j in 0..<c.embeddingDim {
            g[o.queryBias + j] += dq[j]
            let w = o.queryWeight + j * h
            for k in 0..<h {
                g[w + k] += dq[j] * h2[k]
                dh2[k] += dq[j] * p[w + k]
            }
        }
    }

    /// tanh(W [h2 ⊕ f] + b), the slot scorer's hidden layer.
    static func slotHidden(
        h2: UnsafePointer<Float>, features: [Float], config c: PolicyNetworkConfig, offsets o: PolicyOffsets,
        parameters p: UnsafePointer<Float>
    ) -> [Float] {
        precondition(features.count == c.slotFeatureDim, "expected \(c.slotFeatureDim) slot features")
        let h = c.hiddenDim, width = c.hiddenDim + c.slotFeatureDim
        return (0..<c.slotHiddenDim).map { j in
            let w = p + o.slotWeight + j * width
            var a = p[o.slotBias + j]
            for k in 0..<h { a += w[k] * h2[k] }
            for k in 0..<c.slotFeatureDim { a += w[h + k] * finite(features[k]) }
            return tanhf(a)
        }
    }

    /// W_q h2 + b_q, the blueprint scorer's query.
    static func query(
        h2: UnsafePointer<Float>, config c: PolicyNetworkConfig, offsets o: PolicyOffsets, parameters p: UnsafePointer<Float>
    ) -> [Float] {
        (0..<c.embeddingDim).map { j in
            let w = p + o.queryWeight + j * c.hiddenDim
            var q = p[o.queryBias + j]
            for k in 0..<c.hiddenDim { q += w[k] * h2[k] }
            return q
        }
    }

    static func embeddingRow(_ index: Int, _ c: PolicyNetworkConfig) -> Int { min(max(index, 0), c.blueprintVocab - 1) }
    static func finite(_ v: Float) -> Float { v.isFinite ? v : 0 }
}
