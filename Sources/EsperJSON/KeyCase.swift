/// How Swift property names map to JSON keys.
public enum JSONKeyStrategy: Sendable {
    /// Keys as the Swift `CodingKey` says.
    case useDefaultKeys
    /// `camelCase` Swift names become `snake_case` JSON keys (`packetId` → `packet_id`,
    /// `requestURL` → `request_url`). Keys already in snake_case are unchanged, so types with
    /// explicit snake_case `CodingKeys` work under either strategy.
    case convertToSnakeCase
}

enum KeyCase {
    /// camelCase → snake_case, following Foundation's rule: a word starts at an upper-case
    /// letter after a lower-case one or a digit, and at the last capital of a run of capitals
    /// followed by a lower-case letter.
    static func snakeCase(_ key: String) -> String {
        // Fast path: nothing to convert (the common case for snake_case CodingKeys).
        if !key.utf8.contains(where: { $0 >= 65 && $0 <= 90 }) { return key }
        let bytes = Array(key.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 4)
        for (i, byte) in bytes.enumerated() {
            let isUpper = byte >= 65 && byte <= 90
            if isUpper {
                if i > 0 {
                    let previous = bytes[i - 1]
                    let previousIsLowerOrDigit = (previous >= 97 && previous <= 122) || (previous >= 48 && previous <= 57)
                    let previousIsUpper = previous >= 65 && previous <= 90
                    let nextIsLower = i + 1 < bytes.count && bytes[i + 1] >= 97 && bytes[i + 1] <= 122
                    if previousIsLowerOrDigit || (previousIsUpper && nextIsLower) { out.append(95) }
                }
                out.append(byte + 32)
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// snake_case → camelCase (for `allKeys` of decoded objects).
    static func camelCase(_ key: String) -> String {
        guard key.contains("_") else { return key }
        var out = ""
        var upperNext = false
        for (index, character) in key.enumerated() {
            if character == "_" && index > 0 {
                upperNext = true
            } else if upperNext {
                out += character.uppercased()
                upperNext = false
            } else {
                out.append(character)
            }
        }
        return out
    }
}

/// Swift's `Dictionary` encodes through a keyed container whose key type is the standard
/// library's internal `_DictionaryCodingKey`. Its keys are data, not property names, so they
/// must never be case-converted; we learn that type once by probing.
enum DictionaryKeyProbe {
    static let keyType: ObjectIdentifier = {
        let probe = ProbeEncoder()
        try? ["k": 0].encode(to: probe)
        return probe.box.keyType ?? ObjectIdentifier(Never.self)
    }()

    final class Box: @unchecked Sendable { var keyType: ObjectIdentifier? }

    struct ProbeEncoder: Encoder {
        let box = Box()
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }
        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            box.keyType = ObjectIdentifier(Key.self)
            return KeyedEncodingContainer(NullKeyed<Key>())
        }
        func unkeyedContainer() -> any UnkeyedEncodingContainer { fatalError("dictionary probe: unexpected unkeyed container") }
        func singleValueContainer() -> any SingleValueEncodingContainer { fatalError("dictionary probe: unexpected single value") }
    }

    struct NullKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        var codingPath: [any CodingKey] { [] }
        mutating func encodeNil(forKey key: Key) throws {}
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {}
        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            KeyedEncodingContainer(NullKeyed<NestedKey>())
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer { fatalError("dictionary probe") }
        mutating func superEncoder() -> any Encoder { ProbeEncoder() }
        mutating func superEncoder(forKey key: Key) -> any Encoder { ProbeEncoder() }
    }

    static func isDictionaryKey<Key: CodingKey>(_ type: Key.Type) -> Bool { ObjectIdentifier(type) == keyType }
}
