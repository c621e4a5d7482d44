internal import CJansson

/// An owned jansson tree: parsing with limits, and the small helpers every walk needs.
final class JanssonDocument {
    let root: UnsafeMutablePointer<json_t>
    /// The text held an integer beyond int64, so every integer was read as a real.
    private(set) var integersReadAsReals = false

    init(owning root: UnsafeMutablePointer<json_t>) { self.root = root }
    deinit { esper_json_decref(root) }

    /// Parses with duplicate keys rejected, any top-level value allowed, and the depth limit
    /// enforced. jansson itself rejects NaN/Infinity literals and out-of-range numbers.
    static func parse(
        _ bytes: some Collection<UInt8>, retryingBigIntegers: Bool = false
    ) throws(JSONParseError)
        -> JanssonDocument
    {
        var error = json_error_t()
        let flags =
            JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL | (retryingBigIntegers ? JSON_DECODE_INT_AS_REAL : 0)
        let parsed: UnsafeMutablePointer<json_t>? =
            bytes.withContiguousStorageIfAvailable { buffer in
                buffer.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, Int(flags), &error) }
            }
            ?? Array(bytes).withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: CChar.self) { json_loadb($0.baseAddress, $0.count, Int(flags), &error) }
            }
        if parsed == nil, !retryingBigIntegers, messageText(error).hasPrefix("too big ") {
            // A number beyond int64 is valid JSON: read every integer as a real instead, so the
            // decoder names the field that cannot hold it (a 422) rather than a "malformed" 400.
            return try parse(bytes, retryingBigIntegers: true)
        }
        guard let root = parsed else {
            let message = messageText(error)
            throw JSONParseError(
                line: Int(error.line), column: Int(error.column), position: Int(error.position),
                message: message.isEmpty ? "unparseable document" : message)
        }
        let document = JanssonDocument(owning: root)
        document.integersReadAsReals = retryingBigIntegers
        if let (path, depth) = tooDeep(root, depth: 1, path: "$") {
            throw JSONParseError(
                line: 0, column: 0, position: 0,
                message: "nesting depth \(depth) at \(path) exceeds the limit of \(JSONLimits.maxDepth)")
        }
        return document
    }

    private static func messageText(_ error: json_error_t) -> String {
        withUnsafeBytes(of: error.text) { raw in String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    private static func tooDeep(_ node: UnsafeMutablePointer<json_t>, depth: Int, path: String) -> (String, Int)? {
        let type = esper_json_typeof(node)
        guard type == Int32(JSON_OBJECT.rawValue) || type == Int32(JSON_ARRAY.rawValue) else { return nil }
        if depth > JSONLimits.maxDepth { return (path, depth) }
        if type == Int32(JSON_ARRAY.rawValue) {
            for i in 0..<json_array_size(node) {
                if let found = tooDeep(json_array_get(node, i), depth: depth + 1, path: "\(path)[\(i)]") { return found }
            }
        } else {
            var iter = esper_json_object_iter(node)
            while let current = iter {
                if let found = tooDeep(
                    esper_json_object_iter_value(current), depth: depth + 1,
                    path: "\(path).\(key(current))")
                {
                    return found
                }
                iter = esper_json_object_iter_next(node, current)
            }
        }
        return nil
    }

    static func key(_ iter: UnsafeMutableRawPointer) -> String {
        let length = esper_json_object_iter_key_len(iter)
        return esper_json_object_iter_key(iter).withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    static func string(_ node: UnsafeMutablePointer<json_t>) -> String {
        let length = json_string_length(node)
        guard length > 0, let chars = json_string_value(node) else { return "" }
        return chars.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    static func makeString(_ value: String) -> UnsafeMutablePointer<json_t> {
        var value = value
        return value.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { json_stringn_nocheck($0.baseAddress, $0.count)! }
        }
    }

    static func set(_ object: UnsafeMutablePointer<json_t>, _ key: String, _ value: UnsafeMutablePointer<json_t>) {
        var key = key
        _ = key.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { json_object_setn_new_nocheck(object, $0.baseAddress, $0.count, value) }
        }
    }

    static func get(_ object: UnsafeMutablePointer<json_t>, _ key: String) -> UnsafeMutablePointer<json_t>? {
        var key = key
        return key.withUTF8 { buffer in
            buffer.withMemoryRebound(to: CChar.self) { json_object_getn(object, $0.baseAddress, $0.count) }
        }
    }

    static func dump(_ node: UnsafeMutablePointer<json_t>, pretty: Bool) -> [UInt8] {
        var writer = JSONWriter(pretty: pretty)
        writer.write(node, indent: 0)
        return writer.bytes
    }
}
