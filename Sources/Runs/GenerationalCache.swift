import Synchronization

/// A map bounded by two generations of `capacity` entries each: when the current one is full
/// it becomes the old one (the one before is dropped) and entries used again move back to the
/// current one — so between `capacity` and twice that many keys stay, the ones asked for
/// recently, at the cost of one dictionary lookup (two on a hit in the old generation).
/// (Dropping everything at `capacity` made a registry of more runs than that rebuild what it
/// caches on most requests: 10,000 runs against 4,096 entries.) Values are meant to be class
/// instances: a lookup then hands out one reference, not a copy of what it holds — or plain
/// values that own memory through `discard` (called, under the lock, for every value
/// dropped or replaced), read only inside `withValues`. Capacity counts entries, or what
/// `cost` says each one weighs (bytes, for answers of very different sizes).
final class GenerationalCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Generations: Sendable {
        var current: [Key: Value] = [:]
        var previous: [Key: Value] = [:]
        /// What the current generation's values weigh together.
        var currentCost = 0
    }

    let capacity: Int
    private let generations = Mutex(Generations())
    private let discard: (@Sendable (Value) -> Void)?
    private let cost: (@Sendable (Value) -> Int)?

    init(capacity: Int, cost: (@Sendable (Value) -> Int)? = nil, discard: (@Sendable (Value) -> Void)? = nil) {
        self.capacity = max(1, capacity)
        self.cost = cost
        self.discard = discard
    }

    deinit {
        guard let discard else { return }
        generations.withLock { generations in
            for value in generations.current.values { discard(value) }
            for value in generations.previous.values { discard(value) }
        }
    }

    func value(_ key: Key) -> Value? {
        generations.withLock { lookup(key, &$0) }
    }

    /// `body` with the values of `keys` in order (nil where there is none), all under one
    /// taking of the lock: what `discard` frees stays valid until `body` returns.
    func withValues<Result>(_ keys: [Key], _ body: ([Value?]) -> Result) -> Result {
        generations.withLock { generations in body(keys.map { lookup($0, &generations) }) }
    }

    func set(_ key: Key, _ value: Value) {
        generations.withLock { insert(key, value, into: &$0) }
    }

    /// Keys held, in both generations.
    var count: Int { generations.withLock { $0.current.count + $0.previous.count } }

    private func lookup(_ key: Key, _ generations: inout Generations) -> Value? {
        if let value = generations.current[key] { return value }
        guard let value = generations.previous.removeValue(forKey: key) else { return nil }
        insert(key, value, into: &generations)
        return value
    }

    private func insert(_ key: Key, _ value: Value, into generations: inout Generations) {
        let weight = cost?(value) ?? 1
        if generations.current[key] == nil && !generations.current.isEmpty && generations.currentCost + weight > capacity {
            if let discard {
                for old in generations.previous.values { discard(old) }
            }
            generations.previous = generations.current
            generations.current = cost == nil ? Dictionary(minimumCapacity: capacity) : [:]
            generations.currentCost = 0
        }
        generations.currentCost += weight
        if let replaced = generations.current.updateValue(value, forKey: key) {
            generations.currentCost -= cost?(replaced) ?? 1
            discard?(replaced)
        }
    }
}
