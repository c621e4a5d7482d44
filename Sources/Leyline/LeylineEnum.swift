/// What every Leyline enum shares: wire-stable numbers (0 is always "unknown/unspecified"),
/// the full proto value name as the JSON form, and a short label for Prometheus and logs.
///
/// JSON: encodes as the full name (`"SEED_STAGE_TRAINING"`); decodes from the name or from
/// its number (proto3 JSON accepts both). Anything else is an error naming the enum and the
/// accepted names, so a typo in an HTTP body or a bus entry is reported, never defaulted.
public protocol LeylineEnum: RawRepresentable, CaseIterable, Hashable, Sendable, Codable, CustomStringConvertible, LeylineFieldValue
where RawValue == Int32, AllCases == [Self] {
    /// The proto value names, indexed by number (they are dense from 0).
    static var protoNames: [String] { get }
}

extension LeylineEnum {
    /// The full proto name, e.g. `SEED_STAGE_FINE_TUNING`.
    public var name: String { Self.protoNames[Int(rawValue)] }

    public var description: String { name }

    /// The name without the prefix all values share, lower-cased: `SEED_STAGE_FINE_TUNING`
    /// → `fine_tuning` (Prometheus labels, log fields).
    public var label: String { String(name.dropFirst(Self.sharedPrefixLength)).lowercased() }

    /// Length of the longest `_`-terminated prefix common to every name.
    static var sharedPrefixLength: Int {
        let names = protoNames.map { Array($0.utf8) }
        var length = 0
        var lastUnderscore = 0
        while names.allSatisfy({ $0.count > length }) && names.allSatisfy({ $0[length] == names[0][length] }) {
            if names[0][length] == UInt8(ascii: "_") { lastUnderscore = length + 1 }
            length += 1
        }
        return lastUnderscore
    }

    /// The value with this full proto name.
    public init?(name: String) {
        guard let index = Self.protoNames.firstIndex(of: name) else { return nil }
        self.init(rawValue: Int32(index))
    }

    /// The value with this number, or with this name.
    public init?(number: Int64) {
        guard let raw = Int32(exactly: number) else { return nil }
        self.init(rawValue: raw)
    }

    /// Why a value could not be read, for error messages.
    static func unknownValueMessage(_ found: String) -> String {
        "unknown \(Self.self) \(found); expected one of \(protoNames.joined(separator: ", ")) or its number 0-\(protoNames.count - 1)"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let value = Self(name: text) else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: Self.unknownValueMessage("'\(text)'")))
            }
            self = value
        } else if let number = try? container.decode(Int64.self) {
            guard let value = Self(number: number) else {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath,
                        debugDescription: Self.unknownValueMessage("\(number)")))
            }
            self = value
        } else {
            throw DecodingError.typeMismatch(
                String.self,
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "expected a \(Self.self) name (a string) or its number"))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}
