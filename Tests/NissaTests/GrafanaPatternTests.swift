import Nissa
import Testing

/// Values as the plugin sends them after Grafana's regex-format interpolation.
@Suite struct GrafanaPatternTests {
    @Test(arguments: [
        ("tolaria.training.loss", "tolaria.training.loss", true),
        ("tolaria\\.training\\.loss", "tolaria.training.loss", true),
        ("tolaria\\.training\\.loss", "tolariaXtraining.loss", false),
        ("run\\-1\\.a", "run-1.a", true),
        ("run\\-1\\.a", "run-1.ab", false),
        ("(run\\-1|run\\-2)", "run-2", true),
        ("(run\\-1|run\\-2)", "run-3", false),
        (".*", "anything at all", true),
        (".*", "", true),
        ("run-\\d+", "run-42", true),
        ("run-\\d+", "run-x", false),
        ("run(1", "run(1", true),  // not an expression: only itself
        ("run(1", "run1", false),
        ("trailing\\", "trailing\\", true),
        ("tolaria\\..*", "tolaria.validation.loss", true),
        ("tolaria\\..*", "kasmina.seeds.active", false),
    ])
    func matching(pattern: String, value: String, expected: Bool) {
        #expect(GrafanaPattern(pattern).matches(value) == expected)
    }

    @Test func unescapedNamesTheTable() {
        #expect(GrafanaPattern("nissa\\.alerts").unescaped == "nissa.alerts")
        #expect(GrafanaPattern("nissa.slo").unescaped == "nissa.slo")
        #expect(GrafanaPattern("a\\d").unescaped == "a\\d")
    }
}
