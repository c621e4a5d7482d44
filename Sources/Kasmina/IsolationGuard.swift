public import Kernels
import Tolaria

/// What the isolation checks of 02-kasmina §7 look for.
public enum IsolationCheck: String, Sendable, Codable, CaseIterable {
    /// I1: a seed buffer overlaps host parameter memory (at attach).
    case storageOverlap = "storage_overlap"
    /// I2: the seed-only backward (shadow pass + seed) changed a host gradient accumulator.
    case seedBackwardLeak = "seed_backward_leak"
    /// I3: the host's received gradient is not the expected (1 − α)·δ (δ for residual kernels).
    case blendedSplit = "blended_split"
    /// I4: a seed's optimizer step changed host parameters.
    case hostModified = "host_modified"
    /// I5: NaN/Inf in a seed's output or gradients.
    case nonFinite = "non_finite"
}

/// One violation, as reported in telemetry and the seed's record.
public struct IsolationViolation: Sendable, Equatable, Codable {
    public let check: IsolationCheck
    public let seedId: String
    public let detail: String
    public let epoch: Int
}

/// The host side of gradient isolation for one run: the host's parameter memory (registered
/// from Tolaria's host groups each epoch), a snapshot of its gradients around every seed-only
/// backward (I2), a digest of its values around every seed optimizer step (I4), and the
/// storage-overlap test at attach (I1). Owned by the run's training thread.
public final class IsolationGuard {
    /// Σ|deviation| above this is a violation (README-morphogenesis §5 item 5).
    public static let tolerance = 1e-10
    /// Violations of one seed that cull it and quarantine its blueprint.
    public static let breachThreshold = 3

    public private(set) var hostGroups: [ParameterGroup] = []
    /// Every violation so far (the `kasmina.isolation.violations` counter is its count).
    public private(set) var violations: [IsolationViolation] = []
    private var snapshot: UnsafeMutablePointer<Float>?
    private var snapshotCapacity = 0
    /// Time spent in checks, for the overhead budget (< 8 ms per seed per epoch).
    public private(set) var checkNanoseconds: UInt64 = 0
    /// Checks switched off — for tests only, to show that a leak goes unnoticed without the
    /// check that catches it (each isolation test is run once with its check disabled).
    var disabledChecks: Set<IsolationCheck> = []

    public init() {}

    deinit { snapshot?.deallocate() }

    public var violationCount: Int { violations.count }

    /// The host's groups (Tolaria's `host.*`); called at every epoch boundary, so a rollback
    /// or a restored model is always the one checked.
    public func register(hostGroups groups: [ParameterGroup]) {
        hostGroups = groups
        let total = groups.reduce(0) { $0 + $1.count }
        if total > snapshotCapacity {
            snapshot?.deallocate()
            snapshot = .allocate(capacity: max(total, 1))
            snapshotCapacity = total
        }
    }

    public func record(_ violation: IsolationViolation) { violations.append(violation) }

    /// I1: which host buffer (if any) the range [pointer, pointer + count) overlaps.
    public func hostOverlap(_ pointer: UnsafeMutablePointer<Float>, count: Int) -> String? {
        guard count > 0 else { return nil }
        let start = UInt(bitPattern: pointer), end = start + UInt(count * MemoryLayout<Float>.stride)
        for group in hostGroups where group.count > 0 {
            for (name, base) in [
                ("values", group.values), ("gradients", group.gradients), ("first moment", group.firstMoment),
                ("second moment", group.secondMoment),
            ] {
                let hostStart = UInt(bitPattern: base), hostEnd = hostStart + UInt(group.count * MemoryLayout<Float>.stride)
                if start < hostEnd && hostStart < end { return "\(group.name) \(name)" }
            }
        }
        return nil
    }

    /// I2, before: copies every host gradient accumulator.
    public func snapshotHostGradients() {
        let started = MonotonicClock.nanoseconds()
        defer { checkNanoseconds &+= MonotonicClock.nanoseconds() &- started }
        guard let snapshot else { return }
        var offset = 0
        for group in hostGroups where group.count > 0 {
            (snapshot + offset).update(from: group.gradients, count: group.count)
            offset += group.count
        }
    }

    /// I2, after: Σ|∂L/∂θ_host − snapshot| — what the seed-only backward added to the host.
    public func hostGradientChange() -> Double {
        let started = MonotonicClock.nanoseconds()
        defer { checkNanoseconds &+= MonotonicClock.nanoseconds() &- started }
        guard let snapshot else { return 0 }
        var offset = 0, change = 0.0
        for group in hostGroups where group.count > 0 {
            change += BlendMath.l1Distance(group.gradients, snapshot + offset, count: group.count)
            offset += group.count
        }
        return change
    }

    /// I4: a digest of every host parameter value.
    public func hostValuesDigest() -> UInt64 {
        let started = MonotonicClock.nanoseconds()
        defer { checkNanoseconds &+= MonotonicClock.nanoseconds() &- started }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for group in hostGroups where group.count > 0 { BlendMath.digest(group.values, count: group.count, into: &hash) }
        return hash
    }

    /// Adds time measured by a caller (the I3/I5 loops run inline in the slot).
    func addCheckTime(since started: UInt64) { checkNanoseconds &+= MonotonicClock.nanoseconds() &- started }
}
