import Synchronization

/// UUIDs formatted lower-case: random (version 4), or time-ordered (version 7) for run ids.
/// Envelope `event_id`s only need to be unique (dedupe, tracing), not unpredictable: a
/// SplitMix64 stream seeded once from the system generator replaces two `getrandom` calls per
/// publish (`make`). Ids that must not be guessable from others take the system generator
/// (`unpredictable`, `timeOrdered`).
public enum EventID {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
    private static let state = Mutex<UInt64>(
        {
            var system = SystemRandomNumberGenerator()
            return system.next()
        }())

    private static func next() -> UInt64 {
        state.withLock { state in
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func make() -> String { format(next(), next()) }

    /// From the system generator: `getrandom`, where Foundation's `UUID()` opens, reads and
    /// closes /dev/urandom on every call (three system calls per run created).
    public static func unpredictable() -> String {
        var system = SystemRandomNumberGenerator()
        return format(system.next(), system.next())
    }

    /// A time-ordered id (RFC 9562 version 7): the Unix time in milliseconds, then 74 bits
    /// from the system generator. Run ids are the key of the registry's `id` index: random
    /// ids put every new run on a random page of it, one more 4 KiB page per run in every
    /// group commit's write-ahead log (and again when it is checkpointed); ids made in time
    /// order all land on its last page. Still not guessable from others (74 random bits).
    public static func timeOrdered(unixMilliseconds: UInt64) -> String {
        var system = SystemRandomNumberGenerator()
        let high = (unixMilliseconds << 16) | (system.next() & 0x0FFF)
        return format(high, system.next(), version: 7)
    }

    private static func format(_ high: UInt64, _ low: UInt64, version: UInt64 = 4) -> String {
        var high = high
        var low = low
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | (version << 12)
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000  // RFC 4122 variant
        // Written straight into the string's storage: one allocation per id (publish path).
        return String(unsafeUninitializedCapacity: 36) { out in
            hex.withUnsafeBufferPointer { hex in
                var position = 0
                for nibble in 0..<32 {
                    if nibble == 8 || nibble == 12 || nibble == 16 || nibble == 20 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    let word = nibble < 16 ? high : low
                    out[position] = hex[Int(word >> UInt64(60 - (nibble % 16) * 4) & 0xF)]
                    position += 1
                }
                return position
            }
        }
    }
}
