/// One attempt at training a run: the job's stream entry (`<ms>-<seq>`) and how often it was
/// delivered. Attempts are totally ordered — a job reclaimed from a dead worker is delivered
/// again (count + 1), a resumed or requeued run gets a new, later entry — so the server can
/// tell a late record of an earlier attempt from a record of the one training now.
/// Written `<ms>-<seq>#<deliveries>`.
public struct JobAttempt: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64
    public var sequence: UInt64
    public var deliveries: Int

    public init(entryId: String, deliveries: Int) {
        let parts = entryId.split(separator: "-", maxSplits: 1)
        milliseconds = parts.first.flatMap { UInt64($0) } ?? 0
        sequence = parts.count > 1 ? UInt64(parts[1]) ?? 0 : 0
        self.deliveries = deliveries
    }

    /// Parses `<ms>-<seq>#<deliveries>`; nil for anything else.
    public init?(_ text: String) {
        let halves = text.split(separator: "#")
        guard halves.count == 2, let deliveries = Int(halves[1]), deliveries >= 0 else { return nil }
        let parts = halves[0].split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return nil }
        milliseconds = ms
        sequence = seq
        self.deliveries = deliveries
    }

    public var description: String { "\(milliseconds)-\(sequence)#\(deliveries)" }

    /// Fixed-width digits that sort as attempts do (what the run registry stores, so SQL can
    /// compare attempts).
    public var sortKey: String {
        func padded(_ value: UInt64, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return padded(milliseconds, 20) + padded(sequence, 20) + padded(UInt64(max(0, deliveries)), 10)
    }

    public init?(sortKey: String?) {
        guard let key = sortKey, key.utf8.count == 50, key.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        let chars = Array(key)
        guard let ms = UInt64(String(chars[0..<20])), let seq = UInt64(String(chars[20..<40])), let n = Int(String(chars[40..<50]))
        else { return nil }
        milliseconds = ms
        sequence = seq
        deliveries = n
    }

    public static func < (a: JobAttempt, b: JobAttempt) -> Bool {
        (a.milliseconds, a.sequence, a.deliveries) < (b.milliseconds, b.sequence, b.deliveries)
    }
}
