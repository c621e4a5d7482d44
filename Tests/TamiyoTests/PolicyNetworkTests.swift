import Foundation
import TamiyoNetwork
import Testing

/// The one network definition Tamiyo runs and Simic trains: its weight format, its refusal of
/// anything else, and its deterministic inference.
@Suite struct PolicyNetworkTests {
    static func input(slots: Int = 2, blueprints: Int = 3) -> PolicyInput {
        let config = PolicyNetworkConfig()
        var snapshot = PolicyFeatures.Snapshot()
        snapshot.validationLoss = 0.3
        snapshot.validationAccuracy = 0.9
        snapshot.plateauRatio = 1.2
        return PolicyInput(
            features: PolicyFeatures.global(snapshot, dimension: config.featureDim), stageIndex: 3,
            blueprintIndex: PolicyFeatures.blueprintIndex("BP008"),
            slots: (0..<slots).map {
                PolicyFeatures.slot(
                    width: 16, open: $0 == 0, embargoed: false, hasLiveSeed: false, fossils: $0,
                    fossilParameters: 0, position: $0, slots: slots, allowed: true)
            },
            blueprints: (0..<blueprints).map {
                (
                    PolicyFeatures.blueprintIndex("BP00\($0 + 1)"),
                    PolicyFeatures.blueprint(risk: 0.1 * Double($0), tier: "BLUEPRINT_TIER_SAFE", stage: $0, parameters: 100)
                )
            })
    }

    @Test func weightsRoundTripThroughTheFileFormat() throws {
        let weights = PolicyWeights.initial(policyVersion: "policy-v1")
        #expect(weights.values.count == PolicyWeights.parameterCount(weights.config))
        #expect(
            weights.values.count == 11 * 16 + 1024 * 16 + 64 * 64 + 64 + 64 * 64 + 64 + 6 * 64 + 6 + 64 + 1 + 64 + 1 + 16 * 72 + 16 + 16
                + 16 * 64 + 16 + 10 + 1)
        let bytes = weights.encoded()
        let decoded = try PolicyWeights(decoding: bytes)
        #expect(decoded == weights && decoded.policyVersion == "policy-v1" && decoded.sha256 == weights.sha256)
        // Deterministic: the same seed gives the same weights; another seed other weights.
        #expect(PolicyWeights.initial().sha256 == PolicyWeights.initial().sha256)
        #expect(PolicyWeights.initial(seed: 1).sha256 != PolicyWeights.initial().sha256)
        #expect(decoded.tensor("action.bias")?.allSatisfy { $0 == 0 } == true)
    }

    @Test func anythingButThisNetworkIsRefused() throws {
        let weights = PolicyWeights.initial()
        var bytes = weights.encoded()
        #expect(throws: PolicyWeightsError.self) { try PolicyWeights(decoding: Array(bytes.prefix(20))) }
        #expect(throws: PolicyWeightsError.self) { try PolicyWeights(decoding: Array("NOTAPOLI".utf8) + bytes.dropFirst(8)) }
        bytes[bytes.count - 1] ^= 0x40
        #expect(throws: PolicyWeightsError("checksum mismatch")) { try PolicyWeights(decoding: bytes) }
        // Another shape (a wider hidden layer) is refused by name, not loaded "non-strictly".
        var wider = PolicyNetworkConfig()
        wider.hiddenDim = 32
        let other = PolicyWeights.initial(config: wider)
        #expect(throws: PolicyWeightsError("network dimensions differ from this policy's")) { try PolicyWeights(decoding: other.encoded()) }
        #expect(throws: PolicyWeightsError.self) {
            try PolicyWeights(config: PolicyNetworkConfig(), values: [1, 2, 3], policyVersion: "x")
        }
        var values = weights.values
        values[7] = .nan
        #expect(throws: PolicyWeightsError("the weights hold NaN or Inf")) {
            try PolicyWeights(config: PolicyNetworkConfig(), values: values, policyVersion: "x")
        }
    }

    @Test func inferenceIsDeterministicAndScoresWhatExists() {
        let network = PolicyNetwork(weights: PolicyWeights.initial())
        let a = network.evaluate(PolicyNetworkTests.input())
        let b = PolicyNetwork(weights: PolicyWeights.initial()).evaluate(PolicyNetworkTests.input())
        #expect(a == b, "no dropout, no sampling: the same input gives the same output")
        #expect(a.actionLogits.count == PolicyAction.allCases.count)
        #expect(a.slotScores.count == 2 && a.blueprintScores.count == 3)
        #expect(a.param > -1 && a.param < 1)
        let more = network.evaluate(PolicyNetworkTests.input(slots: 5, blueprints: 9))
        #expect(more.slotScores.count == 5 && more.blueprintScores.count == 9)
        #expect(more.actionLogits == a.actionLogits, "the trunk does not depend on how many slots exist")
        // Other weights give other outputs (what Simic's update must achieve).
        let c = PolicyNetwork(weights: PolicyWeights.initial(seed: 99)).evaluate(PolicyNetworkTests.input())
        #expect(c.actionLogits != a.actionLogits)
    }

    @Test func theTrunkIsTheDenseTanhStackOfTheSpec() throws {
        // A hand computation of the first layer from the tensors, against the network.
        let weights = PolicyWeights.initial()
        let config = weights.config
        let x = PolicyNetworkTests.input()
        var input = x.features
        input += Array(weights.tensor("stage_embedding")!.dropFirst(x.stageIndex * config.embeddingDim).prefix(config.embeddingDim))
        input += Array(weights.tensor("blueprint_embedding")!.dropFirst(x.blueprintIndex * config.embeddingDim).prefix(config.embeddingDim))
        let w0 = Array(weights.tensor("trunk.0.weight")!), b0 = Array(weights.tensor("trunk.0.bias")!)
        let h1 = (0..<config.hiddenDim).map { j in
            tanh((0..<config.inputDim).reduce(b0[j]) { $0 + w0[j * config.inputDim + $1] * input[$1] })
        }
        let w1 = Array(weights.tensor("trunk.1.weight")!), b1 = Array(weights.tensor("trunk.1.bias")!)
        let c = (0..<config.hiddenDim).map { j in tanh((0..<config.hiddenDim).reduce(b1[j]) { $0 + w1[j * config.hiddenDim + $1] * h1[$1] })
        }
        let wa = Array(weights.tensor("action.weight")!)
        let logits = (0..<PolicyAction.allCases.count).map { a in
            (0..<config.hiddenDim).reduce(Float(0)) { $0 + wa[a * config.hiddenDim + $1] * c[$1] }
        }
        let out = PolicyNetwork(weights: weights).evaluate(x)
        for (mine, theirs) in zip(logits, out.actionLogits) { #expect(abs(mine - theirs) < 1e-4) }
    }

    @Test func featuresAreStableClampedAndFinite() {
        #expect(PolicyFeatures.blueprintIndex("") == 0)
        #expect(PolicyFeatures.blueprintIndex("BP008") == PolicyFeatures.blueprintIndex("BP008"))
        #expect((1..<1024).contains(PolicyFeatures.blueprintIndex("BP008")))
        // FNV-1a 64 of "BP008" mod 1023, plus one: the same on every machine and process.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in "BP008".utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        #expect(PolicyFeatures.blueprintIndex("BP008") == 1 + Int(hash % 1023))
        var snapshot = PolicyFeatures.Snapshot()
        snapshot.validationLoss = .nan
        snapshot.lossDelta = 1e9
        let features = PolicyFeatures.global(snapshot)
        #expect(features.count == 32 && features.allSatisfy(\.isFinite))
        #expect(features[PolicyFeatures.Global.validationLoss.rawValue] == 0 && features[PolicyFeatures.Global.lossDelta.rawValue] == 10)
        #expect(maskedArgmax([3, 9, 5], allowed: { $0 != 1 }) == 2)
        #expect(maskedArgmax([3, 9, 5], allowed: { _ in false }) == nil)
        #expect(maskedArgmax([4, 4], allowed: { _ in true }) == 0)
    }
}
