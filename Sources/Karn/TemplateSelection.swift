import EsperStorage
public import Leyline

/// What a caller asks `chooseTemplate` for (05 §6).
public struct SelectionCriteria: Sendable, Equatable {
    public var tier: BlueprintTier?
    /// Hashed to pick deterministically; nil or empty picks the first candidate.
    public var context: String?
    public var allowAdversarial: Bool
    public var conservative: Bool

    public init(
        tier: BlueprintTier? = nil, context: String? = nil, allowAdversarial: Bool = false,
        conservative: Bool = false
    ) {
        self.tier = tier
        self.context = context
        self.allowAdversarial = allowAdversarial
        self.conservative = conservative
    }
}

/// The chosen template and how it was chosen.
public struct Selection: Sendable, Equatable {
    public let template: BlueprintTemplate
    /// Size of the final candidate set.
    public let candidateCount: Int
    /// Position of the choice in the id-sorted candidates.
    public let index: Int
    /// First 4 bytes of SHA-256(context), big-endian; nil without a context.
    public let contextHashPrefix: UInt32?
    /// True when the conservative pool was used (by request or because the breaker is open).
    public let conservativePool: Bool
}

extension KarnCatalog {
    /// The size of the conservative pool.
    public static let conservativePoolSize = 10

    /// 05 §6, with the "beyond the reference" fix to conservative mode: the pool is the first 10
    /// SAFE candidates in registration order — for the default catalog BP001–BP010, as the spec
    /// says — and conservative mode never returns a non-SAFE template: without a SAFE candidate
    /// it is an error, not silently ignored (the one recorded deviation, docs/blueprints.md).
    /// Approval is not checked here (that is `KarnService`'s policy). Host-shaped templates (the
    /// widening family) are not slot kernels and never candidates: the 05 §6 golden choices
    /// stay those of the 50 defaults.
    public func chooseTemplate(_ criteria: SelectionCriteria) throws(KarnError) -> Selection {
        var candidates = all().filter { !$0.isHostShaped }
        if let tier = criteria.tier { candidates = candidates.filter { $0.tier == tier } }
        if !criteria.allowAdversarial { candidates = candidates.filter { $0.tier != .highRisk } }
        if criteria.conservative {
            let safe = candidates.filter { $0.tier == .safe }
            guard !safe.isEmpty else {
                throw KarnError.noCandidates("conservative mode allows only SAFE templates and none match")
            }
            candidates = Array(safe.prefix(KarnCatalog.conservativePoolSize))
        }
        guard !candidates.isEmpty else {
            let why =
                criteria.tier == .highRisk && !criteria.allowAdversarial
                ? "HIGH_RISK templates need allow_adversarial" : "no template matches"
            throw KarnError.noCandidates(why)
        }
        candidates.sort { Array($0.id.utf8).lexicographicallyPrecedes(Array($1.id.utf8)) }
        guard let context = criteria.context, !context.isEmpty else {
            return Selection(
                template: candidates[0], candidateCount: candidates.count, index: 0,
                contextHashPrefix: nil, conservativePool: criteria.conservative)
        }
        let digest = Checksum.sha256(Array(context.utf8))
        let prefix = digest.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let index = Int(prefix % UInt32(candidates.count))
        return Selection(
            template: candidates[index], candidateCount: candidates.count, index: index,
            contextHashPrefix: prefix, conservativePool: criteria.conservative)
    }
}
