import Foundation

/// The one list-cursor codec: opaque to clients, `c1.<position>` in base64url inside, where
/// the position is where the next page starts after (a sequence number, or an id for lists
/// ordered by id). Anything else a client sends back is not a cursor this server issued.
enum ListCursor {
    static let maxLength = 64
    static let prefix = "c1."

    // base64url by mapping bytes: Foundation's `replacingOccurrences` made the cursor a
    // visible share of a list request.
    static func encode(_ position: String) -> String {
        let base64 = Data((prefix + position).utf8).base64EncodedString().utf8
        return String(
            decoding: base64.compactMap { byte in
                switch byte {
                case UInt8(ascii: "+"): UInt8(ascii: "-")
                case UInt8(ascii: "/"): UInt8(ascii: "_")
                case UInt8(ascii: "="): nil
                default: byte
                }
            }, as: UTF8.self)
    }

    static func encode(_ sequence: Int64) -> String { encode(String(sequence)) }

    /// The position, or nil when `text` is not a cursor of this codec.
    static func decode(_ text: String) -> String? {
        guard text.utf8.count <= maxLength else { return nil }
        var base64 = text.utf8.map { byte in
            switch byte {
            case UInt8(ascii: "-"): UInt8(ascii: "+")
            case UInt8(ascii: "_"): UInt8(ascii: "/")
            default: byte
            }
        }
        while base64.count % 4 != 0 { base64.append(UInt8(ascii: "=")) }
        guard let data = Data(base64Encoded: Data(base64)), let plain = String(data: data, encoding: .utf8), plain.hasPrefix(prefix)
        else {
            return nil
        }
        return String(plain.dropFirst(prefix.count))
    }

    /// A sequence-number position (runs, studies, alerts, field reports, policies).
    static func decodeSequence(_ text: String) -> Int64? {
        guard let position = decode(text), let sequence = Int64(position), sequence > 0 else { return nil }
        return sequence
    }
}
