import Dispatch
import Foundation
public import Leyline
public import Logging
import Oona
public import Prometheus
import Synchronization

/// One notification and what became of it (`GET /api/v1/nissa/deliveries`).
public struct DeliveryRecord: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Waiting for its first attempt.
        case queued
        /// Failed; the next attempt is scheduled with backoff.
        case retrying
        case delivered
        /// Failed every quick attempt; kept and retried at a slower pace, never dropped.
        case undeliverable
        /// The route names a receiver with no URL configured: nothing can be sent.
        case unconfigured
        /// The receiver answered with a status that is not retried (4xx, 3xx): the request
        /// would fail the same way again. Alertmanager retries only 5xx and network errors.
        case rejected
    }

    public var id: String
    public var alertId: String
    public var rule: String
    /// `slack`, `pagerduty`, `email` or `alertmanager`.
    public var receiver: String
    /// Scheme, host and port only: webhook paths often carry secrets.
    public var target: String
    /// `firing` or `resolved`.
    public var alertStatus: String
    public var status: Status
    public var attempts: Int
    public var lastError: String?
    public var lastHttpStatus: Int?
    public var createdAt: LeylineTimestamp
    public var updatedAt: LeylineTimestamp
    public var nextAttemptAt: LeylineTimestamp?
    public var deliveredAt: LeylineTimestamp?

    var isSettled: Bool { status == .delivered || status == .unconfigured || status == .rejected }
}

/// Sends alert transitions to receivers in the Alertmanager webhook format (version 4) and,
/// when configured, to a real Alertmanager (`POST /api/v2/alerts`, firing alerts re-sent
/// periodically). Its own thread does the blocking I/O; `enqueue` only appends to memory.
/// Network errors and 5xx answers retry with doubling backoff (other answers are `rejected`,
/// not retried, as in Alertmanager); after `webhookMaxAttempts` a delivery is parked as
/// undeliverable and retried every `webhookParkedRetrySeconds` — kept, never dropped.
public final class AlertNotifier: Sendable {
    struct Pending {
        var record: DeliveryRecord
        let url: String
        let body: [UInt8]
        var due: ContinuousClock.Instant
        var sending = false
    }

    struct State {
        var deliveries: [Pending] = []
        var nextId: Int64 = 1
        var running = false
        var nextResend = ContinuousClock.now
    }

    private let options: NissaOptions
    private let logger: Logger
    private let registry: PrometheusCollectorRegistry
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// The delivery thread (ends when `running` goes false; `stop` joins it).
    private let thread = BackgroundThread(name: "esper-nissa-notifier")
    /// Firing alerts with their rules, for the Alertmanager re-send.
    private let firing: @Sendable () -> [(AlertRecord, AlertRule)]
    private let pendingGauge: Gauge
    private let deadLetteredCounter: Counter
    private let store = Mutex<NissaStateStore?>(nil)
    /// Called (off the caller's thread) with the total dead-lettered so far, to raise an alert.
    private let deadLetterHook = Mutex<(@Sendable (Int) -> Void)?>(nil)
    private let deadLettered = Mutex(0)

    public init(
        options: NissaOptions, registry: PrometheusCollectorRegistry, logger: Logger,
        firing: @escaping @Sendable () -> [(AlertRecord, AlertRule)]
    ) {
        self.options = options
        self.registry = registry
        self.logger = logger
        self.firing = firing
        pendingGauge = registry.gauge(
            "esper_nissa_notifications_pending",
            help: "Notifications not yet delivered (queued, retrying or undeliverable).")
        deadLetteredCounter = registry.counter(
            "esper_nissa_notifications_dead_lettered_total",
            help: "Undelivered notifications past NISSA_PARKED_MAX moved to <data>/nissa/dead-letters.log.")
    }

    // MARK: durability

    /// Loads the delivery log saved by an earlier run and saves every later change.
    /// Undelivered notifications are due at once (a restart is a good moment to retry).
    public func restore(from store: NissaStateStore, onDeadLetter: @escaping @Sendable (Int) -> Void) {
        let stored = store.loadDeliveries()
        state.withLock { state in
            for item in stored {
                state.deliveries.append(Pending(record: item.record, url: item.url, body: item.body, due: .now))
                state.nextId = max(state.nextId, (Int64(item.record.id.dropFirst(4)) ?? 0) + 1)
            }
        }
        self.store.withLock { $0 = store }
        deadLetterHook.withLock { $0 = onDeadLetter }
        updatePendingGauge()
        wake.signal()
    }

    private func save(_ pendings: [Pending], removed: [String] = []) {
        guard let store = store.withLock({ $0 }) else { return }
        store.saveDeliveries(
            pendings.map { NissaStateStore.StoredDelivery(record: $0.record, url: $0.url, body: $0.body) }, removed: removed)
    }

    private func count(_ receiver: String, _ outcome: String) {
        registry.counter(
            "esper_nissa_notifications_total", labels: [("receiver", receiver), ("outcome", outcome)],
            help: "Notification attempts by receiver and outcome."
        ).increment()
    }

    static func target(of url: String) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme, let host = components.host else {
            return "(invalid url)"
        }
        return "\(scheme)://\(host)" + (components.port.map { ":\($0)" } ?? "")
    }

    /// Queues one delivery per route of the transition's rule (plus the Alertmanager).
    public func enqueue(_ transition: AlertTransition) {
        let alert = transition.alert
        var items: [(receiver: String, url: String?, body: [UInt8])] = []
        for route in transition.rule.routes {
            let body =
                (try? AlertmanagerPayload.webhook(
                    alert, rule: transition.rule, receiver: route,
                    externalURL: options.externalURL
                ).serialized()) ?? []
            items.append((route, options.receivers[route], body))
        }
        if let alertmanager = options.alertmanagerURL {
            let body =
                (try? AlertmanagerPayload.alertmanagerAlerts([(alert, transition.rule)], externalURL: options.externalURL)
                    .serialized()) ?? []
            items.append(("alertmanager", alertmanager + "/api/v2/alerts", body))
        }
        let now = LeylineTimestamp.now()
        state.withLock { state in
            for item in items {
                let id = "dlv-\(state.nextId)"
                state.nextId += 1
                var record = DeliveryRecord(
                    id: id, alertId: alert.id, rule: alert.rule, receiver: item.receiver,
                    target: item.url.map(AlertNotifier.target) ?? "", alertStatus: alert.state == .resolved ? "resolved" : "firing",
                    status: .queued, attempts: 0, createdAt: now, updatedAt: now, nextAttemptAt: now)
                if item.url == nil {
                    record.status = .unconfigured
                    record.lastError = "no URL configured for receiver \(item.receiver) (NISSA_\(item.receiver.uppercased())_WEBHOOK_URL)"
                    record.nextAttemptAt = nil
                }
                state.deliveries.append(Pending(record: record, url: item.url ?? "", body: item.body, due: .now))
            }
            save(Array(state.deliveries.suffix(items.count)))
            trim(&state)
        }
        for item in items where item.url == nil {
            count(item.receiver, "unconfigured")
            logger.warning("alert route has no receiver configured", metadata: ["rule": "\(alert.rule)", "receiver": "\(item.receiver)"])
        }
        updatePendingGauge()
        wake.signal()
    }

    /// Evicts settled records beyond the log size; undelivered ones stay up to
    /// `NISSA_PARKED_MAX`, past which the oldest is dead-lettered: appended to
    /// `dead-letters.log` with an error log line, a counter and an alert — never dropped
    /// silently (only when even that file cannot be written is it dropped, logged and counted).
    private func trim(_ state: inout State) {
        var excess = state.deliveries.count - options.deliveryLogSize
        var evicted: [String] = []
        if excess > 0 {
            state.deliveries.removeAll { pending in
                guard excess > 0, pending.record.isSettled else { return false }
                excess -= 1
                evicted.append(pending.record.id)
                return true
            }
        }
        var undelivered = state.deliveries.filter { !$0.record.isSettled }.count
        while undelivered > options.parkedMax,
            let index = state.deliveries.firstIndex(where: { !$0.record.isSettled && !$0.sending })
        {
            let moved = state.deliveries.remove(at: index)
            undelivered -= 1
            evicted.append(moved.record.id)
            deadLetter(moved)
        }
        save([], removed: evicted)
    }

    private func deadLetter(_ pending: Pending) {
        let metadata: Logger.Metadata = [
            "delivery": "\(pending.record.id)", "alert": "\(pending.record.alertId)", "receiver": "\(pending.record.receiver)",
            "limit": "\(options.parkedMax)",
        ]
        do {
            guard let store = store.withLock({ $0 }) else {
                throw NissaStoreMissing()
            }
            try store.deadLetter(NissaStateStore.StoredDelivery(record: pending.record, url: pending.url, body: pending.body))
            logger.error(
                "undelivered notification dead-lettered: too many parked",
                metadata: metadata.merging(["file": "\(store.deadLetterPath)"]) { $1 })
            count(pending.record.receiver, "dead_lettered")
        } catch {
            logger.error(
                "undelivered notification dropped: too many parked and no dead-letter file",
                metadata: metadata.merging(["error": "\(error)"]) { $1 })
            count(pending.record.receiver, "dropped")
        }
        deadLetteredCounter.increment()
        let total = deadLettered.withLock { total -> Int in
            total += 1
            return total
        }
        if let hook = deadLetterHook.withLock({ $0 }) {
            // Off this thread: the hook ingests a packet that may enqueue a notification.
            DispatchQueue.global().async { hook(total) }
        }
    }

    private func updatePendingGauge() {
        pendingGauge.set(Double(state.withLock { $0.deliveries.filter { !$0.record.isSettled }.count }))
    }

    /// The delivery log, newest first.
    public func deliveries(limit: Int = 1000) -> [DeliveryRecord] {
        state.withLock { Array($0.deliveries.reversed().prefix(limit).map(\.record)) }
    }

    // MARK: the worker thread

    public func start() {
        let started = state.withLock { state -> Bool in
            guard !state.running else { return false }
            state.running = true
            state.nextResend = ContinuousClock.now.advanced(by: .milliseconds(Int64(options.alertmanagerResendSeconds * 1000)))
            return true
        }
        guard started else { return }
        thread.start { [self] _ in loop() }
    }

    public func stop() {
        let wasRunning = state.withLock { state -> Bool in
            let was = state.running
            state.running = false
            return was
        }
        guard wasRunning else { return }
        wake.signal()
        thread.join()
    }

    private func loop() {
        while state.withLock({ $0.running }) {
            resendFiringIfDue()
            let due = state.withLock { state -> [(index: Int, url: String, body: [UInt8], id: String)] in
                let now = ContinuousClock.now
                var due: [(Int, String, [UInt8], String)] = []
                for index in state.deliveries.indices {
                    let pending = state.deliveries[index]
                    guard !pending.record.isSettled, !pending.sending, pending.due <= now else { continue }
                    state.deliveries[index].sending = true
                    due.append((index, pending.url, pending.body, pending.record.id))
                }
                return due
            }
            for item in due {
                guard state.withLock({ $0.running }) else { break }
                let outcome = WebhookClient.post(url: item.url, body: item.body, timeoutMilliseconds: options.webhookTimeoutMilliseconds)
                settle(item.id, outcome)
            }
            state.withLock { state in
                for index in state.deliveries.indices { state.deliveries[index].sending = false }
            }
            if due.isEmpty { _ = wake.wait(timeout: .now() + .milliseconds(50)) }
        }
    }

    private func settle(_ id: String, _ outcome: WebhookClient.Outcome) {
        let now = LeylineTimestamp.now()
        let result = state.withLock { state -> (receiver: String, outcome: String, record: DeliveryRecord)? in
            guard let index = state.deliveries.firstIndex(where: { $0.record.id == id }) else { return nil }
            var pending = state.deliveries[index]
            pending.record.attempts += 1
            pending.record.updatedAt = now
            pending.record.lastHttpStatus = outcome.status == 0 ? nil : outcome.status
            let label: String
            if outcome.succeeded {
                pending.record.status = .delivered
                pending.record.deliveredAt = now
                pending.record.nextAttemptAt = nil
                pending.record.lastError = nil
                label = "delivered"
            } else if !outcome.retryable {
                pending.record.status = .rejected
                pending.record.lastError = outcome.summary
                pending.record.nextAttemptAt = nil
                label = "rejected"
            } else {
                pending.record.lastError = outcome.summary
                let delay: Duration
                if pending.record.attempts >= options.webhookMaxAttempts {
                    pending.record.status = .undeliverable
                    delay = .milliseconds(Int64(options.webhookParkedRetrySeconds * 1000))
                    label = "undeliverable"
                } else {
                    pending.record.status = .retrying
                    let factor = Int64(1) << Int64(min(pending.record.attempts - 1, 16))
                    delay = .milliseconds(min(Int64(options.webhookBackoffMilliseconds) * factor, 300_000))
                    label = "failed"
                }
                pending.due = ContinuousClock.now.advanced(by: delay)
                let ms = delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
                pending.record.nextAttemptAt = LeylineTimestamp(nanosecondsSinceEpoch: (now.millisecondsSinceEpoch + ms) * 1_000_000)
            }
            state.deliveries[index] = pending
            save([pending])
            return (pending.record.receiver, label, pending.record)
        }
        guard let result else { return }
        count(result.receiver, result.outcome)
        if result.outcome != "delivered" {
            logger.warning(
                "alert notification failed",
                metadata: [
                    "delivery": "\(result.record.id)", "receiver": "\(result.receiver)",
                    "attempts": "\(result.record.attempts)", "error": "\(result.record.lastError ?? "")",
                ])
        }
        updatePendingGauge()
    }

    /// Alertmanager expires alerts it does not hear about again: re-send firing ones.
    private func resendFiringIfDue() {
        guard let alertmanager = options.alertmanagerURL else { return }
        let due = state.withLock { state -> Bool in
            guard ContinuousClock.now >= state.nextResend else { return false }
            state.nextResend = ContinuousClock.now.advanced(by: .milliseconds(Int64(options.alertmanagerResendSeconds * 1000)))
            return true
        }
        guard due else { return }
        let alerts = firing()
        guard !alerts.isEmpty, let body = try? AlertmanagerPayload.alertmanagerAlerts(alerts, externalURL: options.externalURL).serialized()
        else {
            return
        }
        let outcome = WebhookClient.post(
            url: alertmanager + "/api/v2/alerts", body: body, timeoutMilliseconds: options.webhookTimeoutMilliseconds)
        count("alertmanager", outcome.succeeded ? "resent" : "resend_failed")
    }
}

struct NissaStoreMissing: Error, CustomStringConvertible {
    var description: String { "Nissa runs without a state store" }
}
