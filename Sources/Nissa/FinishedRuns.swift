/// Finished runs in the order Nissa learned they finished (a FIFO with O(1) membership), so
/// expiring their series takes the oldest first without sorting.
struct FinishedRuns {
    private var queue: [(run: String, time: Int64)] = []
    private var head = 0
    private var members: Set<String> = []

    var isEmpty: Bool { members.isEmpty }
    var count: Int { members.count }

    var oldest: (run: String, time: Int64)? { head < queue.count ? queue[head] : nil }

    /// Adds `run` unless it is already waiting (its first finish time counts).
    mutating func append(_ run: String, at time: Int64) {
        guard members.insert(run).inserted else { return }
        queue.append((run, time))
    }

    mutating func popOldest() -> (run: String, time: Int64)? {
        guard head < queue.count else { return nil }
        let entry = queue[head]
        head += 1
        members.remove(entry.run)
        // Reclaim the consumed prefix once it is most of the array.
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return entry
    }
}
