/// Random (version 4) UUIDs for envelope `event_id`s, formatted lower-case. Written here
/// rather than with Foundation's `UUID` to stay cheap on the publish path.
enum EventID {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000  // version 4
        low = (low & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000    // RFC 4122 variant
        var out: [UInt8] = []
        out.reserveCapacity(36)
        for (index, word) in [high, low].enumerated() {
            for nibble in 0..<16 {
                let position = index * 16 + nibble
                if position == 8 || position == 12 || position == 16 || position == 20 { out.append(UInt8(ascii: "-")) }
                out.append(hex[Int(word >> UInt64(60 - nibble * 4) & 0xF)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
