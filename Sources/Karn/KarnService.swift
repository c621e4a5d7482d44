import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The catalog as the API and the controller use it: selection and validation with the
/// approval policy, a small circuit breaker, and telemetry (05 §7 and "beyond the reference").
///
/// - Approval: an EXPERIMENTAL or HIGH_RISK template is only handed out (selected, or validated
///   for use) when the caller passes an explicit approval. The selection itself is exactly the
///   spec's (golden vectors unchanged); an unapproved result is refused, naming the template.
/// - Quarantine: HIGH_RISK templates are only selectable with `allowAdversarial` (05 §6) and
///   Urza refuses to serve their kernels to production seeds.
/// - Breaker: `failureThreshold` consecutive selection or validation failures switch Karn to
///   the conservative pool for `openSeconds`; then one probe runs normally and closes it on
///   success or reopens it on failure.
public final class KarnService: Sendable {
    public let catalog: KarnCatalog
    let telemetry: any BlueprintTelemetry
    let failureThreshold: Int
    let openSeconds: Double

    public enum BreakerState: String, Sendable { case closed, open, halfOpen = "half_open" }

    private struct Breaker {
        var consecutiveFailures = 0
        var openedAt: Double?
        var probing = false
    }

    private let breaker = Mutex(Breaker())

    public init(
        catalog: KarnCatalog, telemetry: any BlueprintTelemetry, failureThreshold: Int = 3,
        openSeconds: Double = 30
    ) {
        self.catalog = catalog
        self.telemetry = telemetry
        self.failureThreshold = failureThreshold
        self.openSeconds = openSeconds
    }

    public var breakerState: BreakerState {
        breaker.withLock { b in
            guard let opened = b.openedAt else { return .closed }
            return KarnService.now() - opened >= openSeconds ? .halfOpen : .open
        }
    }

    /// Selects per 05 §6; refuses an unapproved EXPERIMENTAL/HIGH_RISK result.
    public func select(_ criteria: SelectionCriteria, approved: Bool) throws(KarnError) -> Selection {
        let started = KarnService.now()
        var effective = criteria
        if breakerForcesConservative() { effective.conservative = true }
        let selection: Selection
        do {
            selection = try catalog.chooseTemplate(effective)
        } catch {
            recordOutcome(success: false)
            telemetry.metric("karn", "karn.blueprint.request_total", 1, ["outcome": "no_candidates"])
            throw error
        }
        recordOutcome(success: true)
        telemetry.metric("karn", "karn.template.selection_ms", (KarnService.now() - started) * 1000)
        telemetry.metric(
            "karn", "karn.blueprint.request_total", 1,
            ["outcome": "selected", "tier": selection.template.tier.enumName])
        let descriptor = selection.template.descriptor
        if descriptor.approvalRequired && !approved {
            throw KarnError.approvalRequired(blueprintId: descriptor.blueprintId, tier: descriptor.tier)
        }
        return selection
    }

    /// Validates a request (strict keys); an EXPERIMENTAL/HIGH_RISK template also needs approval.
    public func validate(id: String, parameters: [String: Double], approved: Bool) throws(KarnError) -> ValidatedRequest {
        let request: ValidatedRequest
        do {
            request = try catalog.validateRequest(id: id, parameters: parameters)
        } catch {
            if case .invalidParameters = error { recordOutcome(success: false) }
            throw error
        }
        recordOutcome(success: true)
        if request.descriptor.approvalRequired && !approved {
            throw KarnError.approvalRequired(blueprintId: id, tier: request.descriptor.tier)
        }
        return request
    }

    /// True while the breaker is open; lets exactly one probe through once it may half-open.
    private func breakerForcesConservative() -> Bool {
        breaker.withLock { b in
            guard let opened = b.openedAt else { return false }
            if KarnService.now() - opened < openSeconds || b.probing { return true }
            b.probing = true
            return false
        }
    }

    private func recordOutcome(success: Bool) {
        let changed: BreakerState? = breaker.withLock { b in
            if success {
                b.consecutiveFailures = 0
                if b.openedAt != nil && b.probing {
                    b.openedAt = nil
                    b.probing = false
                    return .closed
                }
                return nil
            }
            b.consecutiveFailures += 1
            if b.probing || (b.openedAt == nil && b.consecutiveFailures >= failureThreshold) {
                b.openedAt = KarnService.now()
                b.probing = false
                return .open
            }
            return nil
        }
        if let changed {
            telemetry.metric("karn", "karn.breaker.state", changed == .closed ? 0 : 1)
            telemetry.event("karn", "breaker_\(changed.rawValue)", changed == .closed ? .info : .warning)
        }
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
