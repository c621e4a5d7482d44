/// `google.protobuf.Duration`. JSON form is proto3's: decimal seconds with an `s` suffix and
/// 0, 3, 6 or 9 fraction digits (`"0.500s"`, `"3600s"`, `"-1.250s"`).
public struct LeylineDuration: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int64
    /// Same sign as `seconds` (or zero), |nanos| < 1e9.
    public var nanos: Int32

    /// ±10 000 years, the proto3 range.
    public static let maxSeconds: Int64 = 315_576_000_000

    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    public static let zero = LeylineDuration(seconds: 0)

    public static func milliseconds(_ value: Int64) -> LeylineDuration {
        LeylineDuration(seconds: value / 1000, nanos: Int32(value % 1000) * 1_000_000)
    }

    public var totalMilliseconds: Int64 { seconds * 1000 + Int64(nanos / 1_000_000) }

    public var isValid: Bool {
        abs(seconds) <= LeylineDuration.maxSeconds && abs(nanos) < 1_000_000_000
            && (seconds == 0 || nanos == 0 || (seconds < 0) == (nanos < 0))
    }

    public static func < (lhs: LeylineDuration, rhs: LeylineDuration) -> Bool {
        (lhs.seconds, lhs.nanos) < (rhs.seconds, rhs.nanos)
    }

    public var description: String { text }

    /// `"0.500s"`.
    public var text: String {
        var out: [UInt8] = []
        if seconds < 0 || nanos < 0 { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: String(abs(seconds)).utf8)
        LeylineTimestamp.appendFraction(abs(nanos), to: &out)
        out.append(UInt8(ascii: "s"))
        return String(decoding: out, as: UTF8.self)
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    public init(text: String) throws(ParseError) {
        let fail = ParseError(description: "'\(text)' is not a duration; expected decimal seconds with an s suffix, e.g. \"0.500s\"")
        var bytes = Substring(text).utf8[...]
        guard bytes.last == UInt8(ascii: "s") else { throw fail }
        bytes = bytes.dropLast()
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        let parts = bytes.split(separator: UInt8(ascii: "."), maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12, whole.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw fail }
        var secondsValue: Int64 = 0
        for byte in whole { secondsValue = secondsValue * 10 + Int64(byte - 48) }
        var nanosValue: Int32 = 0
        if parts.count == 2 {
            let fraction = parts[1]
            guard !fraction.isEmpty, fraction.count <= 9, fraction.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { throw fail }
            for byte in fraction { nanosValue = nanosValue * 10 + Int32(byte - 48) }
            for _ in fraction.count..<9 { nanosValue *= 10 }
        }
        self.init(seconds: negative ? -secondsValue : secondsValue, nanos: negative ? -nanosValue : nanosValue)
        guard isValid else { throw ParseError(description: "'\(text)' is outside ±\(LeylineDuration.maxSeconds)s") }
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try LeylineDuration(text: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}
