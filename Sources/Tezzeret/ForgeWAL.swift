import EsperJSON
import EsperStorage

/// The forge's write-ahead record (`<data>/urza/forge_wal.json`, 06 §10): the blueprints still
/// to compile, in order, how many failed forge rounds each has had, and the parameters of
/// entries recovered from a request-pipeline compile. Replaced atomically after every change;
/// deleted when nothing is pending.
struct ForgeWAL: Codable, Equatable {
    var version = 1
    var pending: [String] = []
    var attempts: [String: Int] = [:]
    /// Only for ids whose compile came from the request pipeline (the forge's own use midpoints).
    var parameters: [String: [String: Double]] = [:]

    init() {}

    enum CodingKeys: String, CodingKey { case version, pending, attempts, parameters }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        pending = try c.decode([String].self, forKey: .pending)
        attempts = try c.decodeIfPresent([String: Int].self, forKey: .attempts) ?? [:]
        parameters = try c.decodeIfPresent([String: [String: Double]].self, forKey: .parameters) ?? [:]
    }

    enum Loaded {
        case absent
        case corrupt
        case wal(ForgeWAL)
    }

    static func load(_ path: String) -> Loaded {
        guard let bytes = try? AtomicFile.read(path) else { return .absent }
        guard let wal = try? JanssonDecoder().decode(ForgeWAL.self, from: bytes) else { return .corrupt }
        return .wal(wal)
    }

    /// Writes the record, or deletes the file when nothing is pending.
    func persist(_ path: String) throws {
        if pending.isEmpty {
            AtomicFile.remove(path)
        } else {
            try AtomicFile.write(try JanssonEncoder().encode(self), to: path)
        }
    }
}
