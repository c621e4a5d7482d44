/// The one rule that turns a dotted telemetry name into a Prometheus metric name
/// (docs/nissa.md):
///
/// 1. `esper_` + the name, lower-cased, every character outside `[a-z0-9_]` becoming `_`
///    (`tolaria.training.loss` → `esper_tolaria_training_loss`);
/// 2. base units: a trailing `_ms` becomes `_seconds` and the value is divided by 1000
///    (`tolaria.epoch_hook.latency_ms` → `esper_tolaria_epoch_hook_latency_seconds`); a
///    trailing `_s` becomes `_seconds`;
/// 3. telemetry values are exported as gauges (their latest value), so a trailing `_total`
///    is dropped — `_total` is reserved for counters.
///
/// Units are read from the name only: a packet's `unit` field may differ between packets,
/// and a metric must keep one name and one scale.
public enum MetricNaming {
    public struct Mapping: Sendable, Equatable {
        public let prometheusName: String
        /// Multiply telemetry values by this to get the exported value.
        public let scale: Double

        public init(prometheusName: String, scale: Double) {
            self.prometheusName = prometheusName
            self.scale = scale
        }
    }

    public static func prometheus(_ dotted: String) -> Mapping {
        var name = "esper_"
        for scalar in dotted.lowercased().unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9") || scalar == "_"
            name.unicodeScalars.append(ok ? scalar : "_")
        }
        var scale = 1.0
        if name.hasSuffix("_total") { name.removeLast(6) }
        if name.hasSuffix("_ms") {
            name.removeLast(3)
            name += "_seconds"
            scale = 0.001
        } else if name.hasSuffix("_s") {
            name.removeLast(2)
            name += "_seconds"
        }
        return Mapping(prometheusName: name, scale: scale)
    }

    /// Label names exported with telemetry gauges, in this order when present.
    public static let labelNames = ["run", "seed", "stream", "subsystem"]

    /// The labels of one metric point: `run`, `seed` and `stream` from its attributes (the
    /// usual spellings of each), `subsystem` from the packet's source. Other attributes are
    /// not labels: they would multiply series without bound.
    public static func labels(attributes: [String: String], source: String) -> [SeriesLabel] {
        var labels: [SeriesLabel] = []
        if let run = attributes["run"] ?? attributes["run_id"] ?? attributes["training_run_id"], !run.isEmpty {
            labels.append(SeriesLabel(name: "run", value: run))
        }
        if let seed = attributes["seed"] ?? attributes["seed_id"], !seed.isEmpty {
            labels.append(SeriesLabel(name: "seed", value: seed))
        }
        if let stream = attributes["stream"], !stream.isEmpty {
            labels.append(SeriesLabel(name: "stream", value: stream))
        }
        labels.append(SeriesLabel(name: "subsystem", value: source.isEmpty ? "unknown" : source))
        return labels
    }
}
