public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `google.protobuf.Timestamp`: seconds and nanoseconds since the Unix epoch, UTC. JSON form
/// is RFC 3339 with a `Z` suffix and 0, 3, 6 or 9 fraction digits (as proto3 JSON writes it);
/// input accepts 0-9 fraction digits and a `Z` or numeric offset, converted to UTC.
public struct LeylineTimestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var seconds: Int64
    /// 0 ..< 1_000_000_000.
    public var nanos: Int32

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999999Z, the proto3 range.
    public static let minSeconds: Int64 = -62_135_596_800
    public static let maxSeconds: Int64 = 253_402_300_799

    public init(seconds: Int64, nanos: Int32 = 0) {
        self.seconds = seconds
        self.nanos = nanos
    }

    /// A Foundation date (to the microsecond, as Date carries it).
    public init(date: Date) {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        self.init(nanosecondsSinceEpoch: micros * 1000)
    }

    /// The Unix epoch (the proto3 default value).
    public static let epoch = LeylineTimestamp(seconds: 0)

    /// The wall clock now.
    public static func now() -> LeylineTimestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return LeylineTimestamp(seconds: Int64(spec.tv_sec), nanos: Int32(spec.tv_nsec))
    }

    public init(nanosecondsSinceEpoch value: Int64) {
        seconds = value.quotientAndRemainder(dividingBy: 1_000_000_000).quotient
        var remainder = value % 1_000_000_000
        if remainder < 0 {
            seconds -= 1
            remainder += 1_000_000_000
        }
        nanos = Int32(remainder)
    }

    /// Milliseconds since the epoch (Redis stream ids use this clock).
    public var millisecondsSinceEpoch: Int64 { seconds * 1000 + Int64(nanos / 1_000_000) }

    public var isValid: Bool {
        (LeylineTimestamp.minSeconds...LeylineTimestamp.maxSeconds).contains(seconds) && (0..<1_000_000_000).contains(nanos)
    }

    public static func < (lhs: LeylineTimestamp, rhs: LeylineTimestamp) -> Bool {
        (lhs.seconds, lhs.nanos) < (rhs.seconds, rhs.nanos)
    }

    /// This time plus a duration.
    public func adding(_ duration: LeylineDuration) -> LeylineTimestamp {
        var s = seconds + duration.seconds
        var n = Int64(nanos) + Int64(duration.nanos)
        if n >= 1_000_000_000 { s += 1; n -= 1_000_000_000 }
        if n < 0 { s -= 1; n += 1_000_000_000 }
        return LeylineTimestamp(seconds: s, nanos: Int32(n))
    }

    // MARK: RFC 3339

    public var description: String { rfc3339 }

    /// `2025-09-16T05:20:00.250Z`.
    public var rfc3339: String {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = LeylineTimestamp.civil(fromDays: days)
        var out: [UInt8] = []
        out.reserveCapacity(30)
        func digits(_ value: Int, _ width: Int) {
            var buffer = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            var v = value
            for i in stride(from: width - 1, through: 0, by: -1) {
                buffer[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
            out.append(contentsOf: buffer)
        }
        digits(Int(year), 4); out.append(UInt8(ascii: "-"))
        digits(month, 2); out.append(UInt8(ascii: "-"))
        digits(day, 2); out.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); out.append(UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2); out.append(UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2)
        LeylineTimestamp.appendFraction(nanos, to: &out)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    /// Proto3 JSON style: no fraction when whole, else 3, 6 or 9 digits.
    static func appendFraction(_ nanos: Int32, to out: inout [UInt8]) {
        guard nanos != 0 else { return }
        var value = Int(nanos)
        var width = 9
        if value % 1_000_000 == 0 { value /= 1_000_000; width = 3 } else if value % 1_000 == 0 { value /= 1_000; width = 6 }
        out.append(UInt8(ascii: "."))
        var buffer = [UInt8](repeating: UInt8(ascii: "0"), count: width)
        for i in stride(from: width - 1, through: 0, by: -1) {
            buffer[i] = UInt8(ascii: "0") + UInt8(value % 10)
            value /= 10
        }
        out.append(contentsOf: buffer)
    }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`).
    public init(rfc3339 text: String) throws(ParseError) {
        let bytes = Array(text.utf8)
        var index = 0
        func fail(_ why: String) -> ParseError {
            ParseError(description: "'\(text)' is not an RFC 3339 timestamp (\(why)); expected e.g. 2025-01-31T12:00:00Z")
        }
        func number(_ width: Int) throws(ParseError) -> Int {
            guard index + width <= bytes.count else { throw fail("too short") }
            var value = 0
            for _ in 0..<width {
                let byte = bytes[index]
                guard byte >= 48 && byte <= 57 else { throw fail("digit expected at position \(index + 1)") }
                value = value * 10 + Int(byte - 48)
                index += 1
            }
            return value
        }
        func expect(_ characters: String) throws(ParseError) {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else {
                throw fail("'\(characters.first!)' expected at position \(index + 1)")
            }
            index += 1
        }
        let year = try number(4); try expect("-")
        let month = try number(2); try expect("-")
        let day = try number(2); try expect("Tt ")
        let hour = try number(2); try expect(":")
        let minute = try number(2); try expect(":")
        let second = try number(2)
        guard (1...12).contains(month) else { throw fail("month \(month)") }
        guard day >= 1 && day <= LeylineTimestamp.daysIn(month: month, year: year) else { throw fail("day \(day)") }
        guard hour < 24, minute < 60, second < 60 else { throw fail("time of day out of range") }
        var nanos = 0
        if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, bytes[index] >= 48 && bytes[index] <= 57 {
                guard digits < 9 else { throw fail("more than 9 fraction digits") }
                nanos = nanos * 10 + Int(bytes[index] - 48)
                digits += 1
                index += 1
            }
            guard digits > 0 else { throw fail("empty fraction") }
            for _ in digits..<9 { nanos *= 10 }
        }
        guard index < bytes.count else { throw fail("missing time zone, use Z") }
        var offsetSeconds = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = bytes[index] == UInt8(ascii: "-") ? -1 : 1
            index += 1
            let offsetHours = try number(2); try expect(":")
            let offsetMinutes = try number(2)
            guard offsetHours < 24, offsetMinutes < 60 else { throw fail("offset out of range") }
            offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
        default:
            throw fail("time zone must be Z or ±HH:MM")
        }
        guard index == bytes.count else { throw fail("unexpected text after the time zone") }
        let days = LeylineTimestamp.days(fromCivil: Int64(year), month, day)
        let total = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        self.init(seconds: total, nanos: Int32(nanos))
        guard isValid else { throw fail("outside 0001-01-01..9999-12-31") }
    }

    static func isLeap(_ year: Int) -> Bool { year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Howard Hinnant's days-from-civil (proleptic Gregorian).
    static func days(fromCivil year: Int64, _ month: Int, _ day: Int) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try LeylineTimestamp(rfc3339: text)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}
