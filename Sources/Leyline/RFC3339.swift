#if canImport(Glibc)
    import Glibc
#endif

/// RFC 3339 UTC timestamps with milliseconds (`2025-09-20T12:34:56.789Z`), as the HTTP API
/// writes times (API.md). Bus messages use `LeylineTimestamp` (proto3 JSON form).
public enum RFC3339 {
    public static func format(unixNanoseconds ns: Int64) -> String {
        var seconds = time_t(ns / 1_000_000_000)
        let millis = Int((ns % 1_000_000_000) / 1_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }

    public static func nowUnixNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    public static func now() -> String { format(unixNanoseconds: nowUnixNanoseconds()) }
}
