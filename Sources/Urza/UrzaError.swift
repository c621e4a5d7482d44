/// Errors of the library, naming the blueprint.
public enum UrzaError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(String)
    /// The row exists but its artifact is MISSING, CORRUPT or DEPRECATED.
    case unavailable(String, ArtifactState)
    /// Quarantine-only templates are not served without `allowQuarantine`.
    case quarantined(String)
    case incompatibleShape(String, artifactWidth: Int, requestedWidth: Int)
    /// The artifact failed an integrity check (it has been quarantined).
    case integrity(String, String)
    case invalidArtifact(String, String)
    case invalidId(String)
    case timeout(String, milliseconds: Double)
    case storage(String)

    public var description: String {
        switch self {
        case .notFound(let id): "\(id) is not in the library"
        case .unavailable(let id, let state): "the artifact of \(id) is \(state.rawValue)"
        case .quarantined(let id): "\(id) is quarantine-only and is not served to production seeds"
        case .incompatibleShape(let id, let have, let want): "\(id) was compiled for width \(have), the slot has width \(want)"
        case .integrity(let id, let why): "the artifact of \(id) failed its integrity check (\(why)) and was quarantined"
        case .invalidArtifact(let path, let why): "\(path) is not a valid artifact: \(why)"
        case .invalidId(let id): "'\(id)' is not a valid blueprint id"
        case .timeout(let id, let ms): "fetching \(id) took \(ms) ms, over the hard timeout"
        case .storage(let why): "storage error: \(why)"
        }
    }
}
