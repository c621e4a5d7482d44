import EsperJSON
import Leyline

/// Both JSON paths, so tests can hold them to the same behaviour.
enum Decoders: String, CaseIterable, CustomStringConvertible {
    case direct, jansson

    static let all = allCases
    var name: String { rawValue }
    var description: String { rawValue }

    func decode<T: LeylineMessage>(_ type: T.Type, _ text: String, strict: Bool = true) throws(LeylineDecodingError) -> T {
        let bytes = Array(text.utf8)
        switch self {
        case .direct: return try LeylineCodec.decode(type, from: bytes, strict: strict)
        case .jansson: return try LeylineCodec.decodeWithJansson(type, from: bytes, strict: strict)
        }
    }
}
