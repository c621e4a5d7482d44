/// One entry of a stream as XREADGROUP/XAUTOCLAIM return it.
public struct StreamEntry: Sendable {
    public let id: String
    /// Field → value; a field given twice keeps the first value.
    public let fields: [String: [UInt8]]
    /// True when Redis returned the id without fields (deleted from the stream while still
    /// pending, Redis < 7 reports it like this).
    var isDeleted: Bool { fields.isEmpty }

    /// Parses `[id, [field, value, ...]]`.
    init?(_ reply: RedisReply) {
        guard let parts = reply.array, parts.count == 2, let id = parts[0].text else { return nil }
        self.id = id
        var fields: [String: [UInt8]] = [:]
        if let items = parts[1].array {
            var index = 0
            while index + 1 < items.count {
                if case .string(let name) = items[index], case .string(let value) = items[index + 1] {
                    let key = String(decoding: name, as: UTF8.self)
                    if fields[key] == nil { fields[key] = value }
                }
                index += 2
            }
        }
        self.fields = fields
    }

    init(id: String, fields: [String: [UInt8]]) {
        self.id = id
        self.fields = fields
    }

    /// Entries of an XREADGROUP reply, by stream key: `[[key, [[id, fields], ...]], ...]`.
    static func parseRead(_ reply: RedisReply) -> [(key: String, entries: [StreamEntry])] {
        guard let streams = reply.array else { return [] }
        var result: [(key: String, entries: [StreamEntry])] = []
        for stream in streams {
            guard let parts = stream.array, parts.count == 2, let key = parts[0].text else { continue }
            let entries = (parts[1].array ?? []).compactMap { item -> StreamEntry? in
                // A pending entry deleted from the stream comes back as [id, nil].
                if let pair = item.array, pair.count == 2, let id = pair[0].text, pair[1].isNull {
                    return StreamEntry(id: id, fields: [:])
                }
                return StreamEntry(item)
            }
            result.append((key, entries))
        }
        return result
    }
}
