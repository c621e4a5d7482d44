import Synchronization

/// Request ids: a client's `X-Request-Id` is echoed when it is a sane token, otherwise we
/// make one, so every response and log line can be correlated.
enum RequestID {
    static let maxLength = 128

    static func accept(_ candidate: String?) -> String? {
        guard let candidate, !candidate.isEmpty, candidate.utf8.count <= maxLength else { return nil }
        let ok = candidate.utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: ":")
        }
        return ok ? candidate : nil
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
    private static let seed = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(0)

    /// 16 hex digits that look random and never repeat within a process: a counter from a
    /// random start, scrambled by SplitMix64's finalizer (a bijection). One atomic add instead
    /// of a `getrandom` system call per request.
    static func make() -> String {
        var value = seed &+ counter.add(1, ordering: .relaxed).newValue &* 0x9E37_79B9_7F4A_7C15
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        value ^= value >> 31
        // Written straight into the string's storage (no intermediate array).
        return String(unsafeUninitializedCapacity: 16) { out in
            for i in 0..<16 {
                out[15 - i] = hex[Int(value & 15)]
                value >>= 4
            }
            return 16
        }
    }
}
