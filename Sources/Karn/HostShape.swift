/// The host shape a host-shaped blueprint (widening, conv branch) is compiled for: the width it
/// reads (`inputs`: layer l's input) and the width it writes (`outputs`: layer l+1's
/// pre-activation). Everything else (units, channels, kernel sizes, stride) is fixed by the
/// template. A depth template (an inserted conv) reads and writes one signal: `inputs` is its
/// length (positions), `outputs` its channels. Its Urza artifact id is the template id plus the shape (`BP052-i40-o10`), so every
/// shape a run attaches to has its own checksummed artifact.
public struct HostShape: Sendable, Equatable, Hashable, Codable {
    /// The widest `inputs` or `outputs` Tezzeret compiles for.
    public static let maxWidth = 1 << 16

    public var inputs: Int
    public var outputs: Int

    public init(inputs: Int, outputs: Int) {
        self.inputs = inputs
        self.outputs = outputs
    }

    /// The Urza id of `templateId`'s artifact at this shape (at most 23 bytes for BPnnn).
    public func artifactId(templateId: String) -> String { "\(templateId)-i\(inputs)-o\(outputs)" }

    /// The template id and shape of a host-shaped artifact id (`BP052-i40-o10`); nil for any
    /// other id (a slot kernel's `BP001`).
    public static func parse(artifactId: String) -> (templateId: String, shape: HostShape)? {
        let parts = artifactId.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].hasPrefix("BP"), parts[1].first == "i", parts[2].first == "o",
            let inputs = Int(parts[1].dropFirst()), let outputs = Int(parts[2].dropFirst()),
            (1...maxWidth).contains(inputs), (1...maxWidth).contains(outputs)
        else { return nil }
        return (String(parts[0]), HostShape(inputs: inputs, outputs: outputs))
    }
}
