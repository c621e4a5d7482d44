import Nissa
import Testing

@Suite struct MetricNamingTests {
    @Test func dottedNamesMapByOneRule() {
        #expect(MetricNaming.prometheus("tolaria.training.loss") == .init(prometheusName: "esper_tolaria_training_loss", scale: 1))
        #expect(
            MetricNaming.prometheus("tolaria.epoch_hook.latency_ms")
                == .init(prometheusName: "esper_tolaria_epoch_hook_latency_seconds", scale: 0.001))
        #expect(MetricNaming.prometheus("nissa.telemetry.dropped_total").prometheusName == "esper_nissa_telemetry_dropped")
        #expect(MetricNaming.prometheus("Simic.Policy-Entropy").prometheusName == "esper_simic_policy_entropy")
        #expect(MetricNaming.prometheus("x.wait_s").prometheusName == "esper_x_wait_seconds")
    }
}
