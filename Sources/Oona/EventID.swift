import Synchronization

/// Random (version 4) UUIDs for envelope `event_id`s, formatted lower-case. They only need
/// to be unique (dedupe, tracing), not unpredictable: a SplitMix64 stream seeded once from
/// the system generator replaces two `getrandom` calls per publish.
enum EventID {
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

    static func make() -> String {
        var high = next()
        var low = next()
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
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
