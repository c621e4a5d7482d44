/// Why an artifact file was rejected.
public enum ArtifactError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(Int)
    case tooLarge(Int)
    case badMagic
    /// Written by a newer compiler: not corrupt, just unreadable here (recompile, do not quarantine).
    case unsupportedFormat(UInt32)
    case badHeader(String)
    case headerChecksum
    case bodyChecksum
    case weightsChecksum
    /// Well-formed bytes that contradict each other (header vs metadata vs tensor table).
    case inconsistent(String)

    /// True when the bytes are damaged (as opposed to merely from a newer format).
    public var isCorruption: Bool {
        if case .unsupportedFormat = self { return false }
        return true
    }

    public var description: String {
        switch self {
        case .truncated(let size): "truncated: \(size) bytes"
        case .tooLarge(let size): "\(size) bytes exceeds the \(KernelArtifact.maxBytes)-byte artifact limit"
        case .badMagic: "not an Esper kernel artifact (bad magic)"
        case .unsupportedFormat(let version):
            "format version \(version) is newer than this build reads (\(ArtifactHeader.currentFormatVersion))"
        case .badHeader(let what): "bad header: \(what)"
        case .headerChecksum: "header CRC-32 mismatch"
        case .bodyChecksum: "body SHA-256 mismatch"
        case .weightsChecksum: "weights SHA-256 mismatch"
        case .inconsistent(let what): "inconsistent artifact: \(what)"
        }
    }
}
