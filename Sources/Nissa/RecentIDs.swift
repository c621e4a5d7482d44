import Synchronization

/// Ids of recently ingested messages, so a redelivered entry (at-least-once delivery: a
/// crash before XACK, a reclaim) is not counted twice. Bounded: the oldest ids are forgotten.
final class RecentIDs: Sendable {
    private struct State {
        var set = Set<String>()
        var ring: [String] = []
        var next = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    func contains(_ id: String) -> Bool { state.withLock { $0.set.contains(id) } }

    /// True the first time an id is seen (within the window of `capacity` ids).
    func insert(_ id: String) -> Bool {
        state.withLock { state in
            guard !state.set.contains(id) else { return false }
            state.set.insert(id)
            if state.ring.count < capacity {
                state.ring.append(id)
            } else {
                state.set.remove(state.ring[state.next])
                state.ring[state.next] = id
                state.next = (state.next + 1) % capacity
            }
            return true
        }
    }
}
