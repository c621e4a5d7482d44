internal import CJansson

/// Prints a jansson tree as JSON text: keys sorted bytewise (as jansson's `JSON_SORT_KEYS`),
/// strings escaped, and numbers in their shortest round-trip form. We print ourselves rather
/// than with `json_dumps` because jansson writes reals with 17 significant digits
/// (`0.1` → `0.10000000000000001`), which is noise for every curl user and Grafana panel.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    let pretty: Bool

    init(pretty: Bool) {
        self.pretty = pretty
        bytes.reserveCapacity(256)
    }

    mutating func write(_ node: UnsafeMutablePointer<json_t>, indent: Int) {
        switch esper_json_typeof(node) {
        case Int32(JSON_OBJECT.rawValue):
            var members: [(key: String, value: UnsafeMutablePointer<json_t>)] = []
            members.reserveCapacity(json_object_size(node))
            var iter = esper_json_object_iter(node)
            while let current = iter {
                members.append((JanssonDocument.key(current), esper_json_object_iter_value(current)))
                iter = esper_json_object_iter_next(node, current)
            }
            members.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            bytes.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                writeString(member.key)
                bytes.append(UInt8(ascii: ":"))
                if pretty { bytes.append(UInt8(ascii: " ")) }
                write(member.value, indent: indent + 1)
            }
            if !members.isEmpty { newline(indent) }
            bytes.append(UInt8(ascii: "}"))
        case Int32(JSON_ARRAY.rawValue):
            let count = json_array_size(node)
            bytes.append(UInt8(ascii: "["))
            for i in 0..<count {
                if i > 0 { bytes.append(UInt8(ascii: ",")) }
                newline(indent + 1)
                write(json_array_get(node, i), indent: indent + 1)
            }
            if count > 0 { newline(indent) }
            bytes.append(UInt8(ascii: "]"))
        case Int32(JSON_STRING.rawValue):
            writeString(JanssonDocument.string(node))
        case Int32(JSON_INTEGER.rawValue):
            bytes.append(contentsOf: String(json_integer_value(node)).utf8)
        case Int32(JSON_REAL.rawValue):
            bytes.append(contentsOf: JSONWriter.format(json_real_value(node)).utf8)
        case Int32(JSON_TRUE.rawValue):
            bytes.append(contentsOf: "true".utf8)
        case Int32(JSON_FALSE.rawValue):
            bytes.append(contentsOf: "false".utf8)
        default:
            bytes.append(contentsOf: "null".utf8)
        }
    }

    /// Shortest text that reads back as the same double (jansson never holds NaN/Infinity).
    static func format(_ value: Double) -> String {
        value.description
    }

    private mutating func newline(_ indent: Int) {
        guard pretty else { return }
        bytes.append(UInt8(ascii: "\n"))
        bytes.append(contentsOf: repeatElement(UInt8(ascii: " "), count: indent * 2))
    }

    private mutating func writeString(_ string: String) {
        JSONText.appendString(string, to: &bytes)
    }
}
