public import Karn

import enum Leyline.RFC3339

/// Lifecycle of a stored artifact (08 §3.2 `state`).
public enum ArtifactState: String, Sendable, Codable, CaseIterable {
    /// The file exists and matched its hash when last checked.
    case available = "AVAILABLE"
    /// The row exists but the file is gone.
    case missing = "MISSING"
    /// The file failed an integrity check and was moved to quarantine/.
    case corrupt = "CORRUPT"
    /// Written in a format this build cannot read (kept; recompiled by the next forge).
    case deprecated = "DEPRECATED"
}

/// One row of the catalog: the descriptor, and the current artifact of that blueprint.
public struct UrzaRecord: Sendable, Equatable, Encodable {
    public var descriptor: BlueprintDescriptor
    /// Urza's content-addressed copy (`artifacts/<id>/<sha256>.esk`).
    public var artifactPath: String
    public var artifactSHA256: String
    public var artifactCRC32: String
    public var artifactBytes: Int
    public var formatVersion: Int
    /// Parameters as requested when it was compiled.
    public var parameters: [String: Double]
    public var paramsSHA256: String
    public var seedWidth: Int
    public var kind: String
    public var variant: String
    /// `VALIDATED` (every gate passed) or `UNSAFE` (an expected-unsafe template failed gates).
    public var validationStatus: String
    public var state: ArtifactState
    public var compiledAtNs: Int64
    public var updatedAtNs: Int64

    public var blueprintId: String { descriptor.blueprintId }
    public var quarantined: Bool { descriptor.quarantineOnly }

    enum CodingKeys: String, CodingKey {
        case blueprintId, name, tier, descriptor, artifactSha256, artifactCrc32, artifactBytes, formatVersion
        case parameters, paramsSha256, seedWidth, kind, variant, validationStatus, state, quarantined
        case compiledAt, updatedAt, artifactUrl
    }

    /// The API form: the local path stays private; the artifact is reachable by URL.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(blueprintId, forKey: .blueprintId)
        try c.encode(descriptor.name, forKey: .name)
        try c.encode(descriptor.tier, forKey: .tier)
        try c.encode(descriptor, forKey: .descriptor)
        try c.encode(artifactSHA256, forKey: .artifactSha256)
        try c.encode(artifactCRC32, forKey: .artifactCrc32)
        try c.encode(artifactBytes, forKey: .artifactBytes)
        try c.encode(formatVersion, forKey: .formatVersion)
        try c.encode(parameters, forKey: .parameters)
        try c.encode(paramsSHA256, forKey: .paramsSha256)
        try c.encode(seedWidth, forKey: .seedWidth)
        try c.encode(kind, forKey: .kind)
        try c.encode(variant, forKey: .variant)
        try c.encode(validationStatus, forKey: .validationStatus)
        try c.encode(state, forKey: .state)
        try c.encode(quarantined, forKey: .quarantined)
        try c.encode(RFC3339.format(unixNanoseconds: compiledAtNs), forKey: .compiledAt)
        try c.encode(RFC3339.format(unixNanoseconds: updatedAtNs), forKey: .updatedAt)
        try c.encode("/api/v1/urza/artifacts/\(artifactSHA256)", forKey: .artifactUrl)
    }
}
