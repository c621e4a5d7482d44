import EsperStorage
import EsperTestSupport
import Foundation
import Leyline
import Logging
import Nissa
import Prometheus
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Nissa's durable state (issue 16): a second NissaService on the same directory — what a
/// restart does — sees the alerts with their acks, the delivery log with parked
/// notifications, and the SLO samples of the first.
@Suite(.serialized) struct NissaStateStoreTests {
    static func open(
        _ directory: String, _ configure: (inout NissaOptions) -> Void = { _ in }
    ) throws -> (NissaService, PrometheusCollectorRegistry) {
        var options = NissaOptions()
        configure(&options)
        let registry = PrometheusCollectorRegistry()
        var logger = Logger(label: "nissa-store-test")
        logger.logLevel = .critical
        let store = try NissaStateStore(directory: directory, registry: registry, logger: logger)
        return (NissaService(options: options, registry: registry, bus: nil, logger: logger, stateStore: store), registry)
    }

    @Test func alertsAcksDeliveriesAndSLOSamplesSurviveARestart() throws {
        let directory = TemporaryDirectory("nissa-state")
        let receiver = try WebhookReceiver(statuses: Array(repeating: 500, count: 1000))
        let settings: (inout NissaOptions) -> Void = {
            $0.receivers = ["email": "http://127.0.0.1:\(receiver.port)/hook"]
            $0.webhookMaxAttempts = 1
            $0.webhookBackoffMilliseconds = 1
            $0.webhookParkedRetrySeconds = 3600
        }
        var alertId = ""
        do {
            let (nissa, _) = try Self.open(directory.path, settings)
            nissa.start()
            nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 2)]))  // fires (email)
            nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 30)]))  // pending, 1 of 3
            nissa.ingest(packet("tolaria", [("slo.latency_objective", 18), ("slo.latency_actual", 25)]))
            nissa.ingest(packet("tolaria", [("slo.latency_objective", 18), ("slo.latency_actual", 10)]))
            alertId = try #require(nissa.alerts.firing().first?.id)
            guard case .acknowledged = nissa.alerts.acknowledge(id: alertId, by: "alice") else { Issue.record("ack"); return }
            #expect(eventually(within: 10) { nissa.notifier.deliveries().first?.status == .undeliverable })
            nissa.stop()
        }
        let (nissa, _) = try Self.open(directory.path, settings)
        let restored = try #require(nissa.alerts.alert(id: alertId))
        #expect(restored.state == .firing && restored.acknowledgedBy == "alice" && restored.rule == "tezzeret_compile_retry_high")
        #expect(nissa.alerts.list(limit: 10).items.count == 2)
        let deliveries = nissa.notifier.deliveries()
        #expect(deliveries.count == 1 && deliveries.first?.status == .undeliverable && deliveries.first?.alertId == alertId)
        let slo = try #require(nissa.slo.snapshot(now: LeylineTimestamp.now().millisecondsSinceEpoch)["latency"])
        #expect(slo.total == 2 && slo.violations == 1)
        // The restored alert goes on: the pending latency alert continues its count (2 and 3
        // of 3 fire it, not a fresh 1 of 3), and a clearing sample resolves the firing one.
        nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 30)]))
        nissa.ingest(packet("tolaria", [("tolaria.epoch_hook.latency_ms", 30)]))
        #expect(nissa.alerts.firing().contains { $0.rule == "training_latency_high" })
        nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 0)]))
        #expect(nissa.alerts.alert(id: alertId)?.state == .resolved)
        #expect(nissa.alerts.list(limit: 10).items.count == 2)
        // New ids do not collide with restored ones.
        #expect(Set(nissa.notifier.deliveries().map(\.id)).count == nissa.notifier.deliveries().count)
    }

    @Test func pastTheParkedBoundTheOldestIsDeadLetteredWithAnAlertAndACounter() throws {
        let directory = TemporaryDirectory("nissa-dead")
        let (nissa, registry) = try Self.open(directory.path) {
            $0.receivers = [
                "email": "http://127.0.0.1:9/unreachable", "slack": "http://127.0.0.1:9/x", "pagerduty": "http://127.0.0.1:9/y",
            ]
            $0.parkedMax = 2
        }
        // Not started: nothing is sent, every notification stays undelivered.
        for value in [2.0, 0, 2, 0] { nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", value)])) }
        let log = try AppendOnlyLog(path: directory.path + "/dead-letters.log").read()
        #expect(log.records.count >= 2)
        let first = try JSONSerialization.jsonObject(with: Data(log.records[0])) as? [String: Any]
        #expect((first?["delivery"] as? [String: Any])?["receiver"] as? String == "email")
        #expect(first?["payload"] is [String: Any])
        var metrics: [UInt8] = []
        registry.emit(into: &metrics)
        #expect(String(decoding: metrics, as: UTF8.self).contains("esper_nissa_notifications_dead_lettered_total \(log.records.count)"))
        #expect(eventually(within: 10) { nissa.alerts.firing().contains { $0.rule == "nissa_notifications_dead_lettered" } })
        #expect(nissa.notifier.deliveries().filter { $0.status != .delivered }.count <= 2 + 2)
    }

    /// A small tmpfs (root only; skipped otherwise) filled and freed: ingest goes on, health
    /// says the state is not saved, and a write after space returns clears it.
    @Test func aFullDiskIsReportedAndIngestGoesOn() throws {
        guard getuid() == 0, let mount = Tools.find("mount") else { return }
        let mountPoint = TemporaryDirectory("nissa-tmpfs")
        guard (try? Tools.run(mount, ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint.path]))?.status == 0 else { return }
        defer { _ = try? Tools.run(Tools.find("umount") ?? "/bin/umount", ["-l", mountPoint.path]) }
        let (nissa, registry) = try Self.open(mountPoint.path + "/nissa")
        nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 2)]))
        #expect(nissa.health.healthy)
        let filler = mountPoint.path + "/filler"
        _ = try Tools.run(Tools.find("dd") ?? "/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=64k", "count=64"])
        // Enough changes to need new pages; each is refused, none stops ingest.
        for round in 0..<200 {
            nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", Double(round % 2) * 2)]))
            nissa.ingest(packet("tolaria", [("slo.latency_objective", 18), ("slo.latency_actual", Double(round))]))
        }
        #expect(!nissa.health.healthy)
        #expect(nissa.health.detail.contains("state not saved"), "\(nissa.health.detail)")
        var metrics: [UInt8] = []
        registry.emit(into: &metrics)
        #expect(!String(decoding: metrics, as: UTF8.self).contains("esper_nissa_store_errors_total 0"))
        #expect(nissa.alerts.list(limit: 500).items.count > 1)  // memory kept going
        unlink(filler)
        nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 2)]))
        #expect(nissa.health.healthy, "\(nissa.health.detail)")
    }

    @Test func aDamagedStateFileIsQuarantinedAndNissaStartsEmpty() throws {
        let directory = TemporaryDirectory("nissa-corrupt")
        do {
            let (nissa, _) = try Self.open(directory.path)
            nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 2)]))
        }
        // Overwrite the middle of the file (the tables' pages) with garbage.
        let path = directory.path + "/nissa.db"
        var bytes = try #require(FileManager.default.contents(atPath: path).map { Array($0) })
        #expect(bytes.count >= 4096)
        for index in 100..<min(bytes.count, 8000) { bytes[index] = UInt8(truncatingIfNeeded: index &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (nissa, registry) = try Self.open(directory.path)
        #expect(nissa.alerts.list(limit: 10).items.isEmpty)
        let quarantined = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/quarantine")
        #expect(quarantined.contains { $0.hasPrefix("nissa.db.") })
        #expect(nissa.stateStore?.openingReport?.contains("integrity") == true)
        var metrics: [UInt8] = []
        registry.emit(into: &metrics)
        #expect(String(decoding: metrics, as: UTF8.self).contains("esper_nissa_store_quarantined_total 1"))
        // And it works again.
        nissa.ingest(packet("tezzeret", [("tezzeret.compile.retry_count", 2)]))
        #expect(nissa.stateStore?.counts()["alerts"] == 1)
    }
}
