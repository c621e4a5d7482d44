import Testing
import TamiyoNetwork

@Suite struct PolicyNetworkTests {
    @Test func placeholder() { #expect(PolicyWeights.parameterCount(PolicyNetworkConfig()) > 0) }
}
