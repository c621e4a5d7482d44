// Chosen members of a stored JSON object, copied as they are (a history's field selection).

import EsperJSON
import Foundation

/// Copies the chosen top-level members of a JSON object written by `JanssonEncoder` (an
/// epoch summary as the registry stores it) without decoding it: each member's value is
/// passed on byte for byte, in the stored order (the encoder's, sorted by key). A history
/// with `fields=` answers this way instead of decoding and encoding a hundred summaries.
enum StoredJSONMembers {
    /// The member names to keep, as the encoder writes them between the quotes (escaped),
    /// compared with the raw key.
    struct Selection: Sendable {
        let names: [[UInt8]]
        init(_ names: Set<String>) {
            self.names = names.map { name in
                var quoted: [UInt8] = []
                JSONText.appendString(name, to: &quoted)
                return Array(quoted.dropFirst().dropLast())
            }
        }

        func contains(_ key: UnsafeBufferPointer<UInt8>) -> Bool {
            for name in names where name.count == key.count {
                if key.isEmpty || name.withUnsafeBufferPointer({ memcmp($0.baseAddress!, key.baseAddress!, key.count) }) == 0 {
                    return true
                }
            }
            return false
        }
    }

    /// Appends `{` + the kept members + `}` of the object `json` to `out`. Text that is not a
    /// JSON object (never the case for stored rows) gives `{}`.
    static func select(_ selection: Selection, from json: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var position = skipSpace(json, 0)
        guard position < json.count, json[position] == UInt8(ascii: "{") else {
            out.append(UInt8(ascii: "}"))
            return
        }
        position += 1
        var first = true
        while true {
            position = skipSpace(json, position)
            guard position < json.count, json[position] == UInt8(ascii: "\"") else { break }
            let keyStart = position
            position = skipString(json, position)
            let keyEnd = position
            position = skipSpace(json, position)
            guard position < json.count, json[position] == UInt8(ascii: ":") else { break }
            position = skipSpace(json, position + 1)
            let valueStart = position
            position = skipValue(json, position)
            let key = UnsafeBufferPointer(rebasing: json[(keyStart + 1)..<max(keyStart + 1, keyEnd - 1)])
            if selection.contains(key) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: UnsafeBufferPointer(rebasing: json[keyStart..<keyEnd]))
                out.append(UInt8(ascii: ":"))
                out.append(contentsOf: UnsafeBufferPointer(rebasing: json[valueStart..<position]))
            }
            position = skipSpace(json, position)
            guard position < json.count, json[position] == UInt8(ascii: ",") else { break }
            position += 1
        }
        out.append(UInt8(ascii: "}"))
    }

    private static func skipSpace(_ json: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        var position = start
        while position < json.count, json[position] == 0x20 || json[position] == 0x0A || json[position] == 0x0D || json[position] == 0x09 {
            position += 1
        }
        return position
    }

    /// From an opening quote to just past its closing quote: `memchr` to each quote, which
    /// closes the string unless an odd run of backslashes escapes it.
    private static func skipString(_ json: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        guard let base = json.baseAddress else { return json.count }
        var position = start + 1
        while position < json.count {
            guard let quote = memchr(base + position, Int32(UInt8(ascii: "\"")), json.count - position) else { return json.count }
            let at = UnsafeRawPointer(quote) - UnsafeRawPointer(base)
            var backslashes = 0
            while at - backslashes - 1 > start && json[at - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
            if backslashes % 2 == 0 { return at + 1 }
            position = at + 1
        }
        return json.count
    }

    /// The bytes that matter inside a nested object or array: quotes and brackets. The scan
    /// for them is one table lookup per byte (the other bytes are most of a summary's seeds
    /// and slots).
    private static let structural: [Bool] = (0..<256).map { "\"{}[]".utf8.contains(UInt8($0)) }

    /// Just past one value: a string, a nested object or array (brackets counted outside
    /// strings), or a scalar (up to the next `,`, `}` or `]`).
    private static func skipValue(_ json: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int {
        guard start < json.count else { return start }
        switch json[start] {
        case UInt8(ascii: "\""):
            return skipString(json, start)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            return structural.withUnsafeBufferPointer { structural in
                var depth = 0
                var position = start
                while position < json.count {
                    let byte = json[position]
                    guard structural[Int(byte)] else {
                        position += 1
                        continue
                    }
                    switch byte {
                    case UInt8(ascii: "\""):
                        position = skipString(json, position)
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    default:
                        depth -= 1
                        if depth == 0 { return position + 1 }
                    }
                    position += 1
                }
                return json.count
            }
        default:
            var position = start
            while position < json.count {
                let byte = json[position]
                if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { break }
                position += 1
            }
            return position
        }
    }
}
