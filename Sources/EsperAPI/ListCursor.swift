import Foundation

/// The one list-cursor codec: opaque to clients, `c1.<position>` in base64url inside, where
/// the position is where the next page starts after (a sequence number, or an id for lists
/// ordered by id). Anything else a client sends back is not a cursor this server issued.
enum ListCursor {
    static let maxLength = 64
    static let prefix = "c1."

    static func encode(_ position: String) -> String {
        Data((prefix + position).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func encode(_ sequence: Int64) -> String { encode(String(sequence)) }

    /// The position, or nil when `text` is not a cursor of this codec.
    static func decode(_ text: String) -> String? {
        guard text.utf8.count <= maxLength else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.utf8.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let plain = String(data: data, encoding: .utf8), plain.hasPrefix(prefix) else {
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
