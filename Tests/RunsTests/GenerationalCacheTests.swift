import Synchronization
import Testing

@testable import Runs

/// The caches behind list and get answers are bounded: driven far past their capacity they
/// hold at most two generations, keep what was used recently and never hand out a value
/// under the wrong key.
@Suite struct GenerationalCacheTests {
    final class Box: Sendable {
        let value: Int
        init(_ value: Int) { self.value = value }
    }

    @Test func staysWithinTwoGenerationsAndKeepsWhatIsUsed() {
        let cache = GenerationalCache<Int, Box>(capacity: 100)
        for key in 0..<10_000 {
            cache.set(key, Box(key * 3))
            // Key 7 is asked for all along: it must never be dropped.
            #expect(cache.value(7)?.value == 21 || key < 7)
            #expect(cache.count <= 200)
        }
        #expect(cache.count >= 100)
        for key in 9_900..<10_000 { #expect(cache.value(key)?.value == key * 3, "the last capacity keys are all there") }
        var held = 0
        for key in 0..<10_000 {
            if let box = cache.value(key) {
                #expect(box.value == key * 3)
                held += 1
            }
        }
        #expect(held <= 200 && held >= 100)
    }

    @Test func aValueSetAgainReplacesTheOldOne() {
        let cache = GenerationalCache<String, Box>(capacity: 2)
        cache.set("a", Box(1))
        cache.set("b", Box(2))
        cache.set("c", Box(3))  // "a" and "b" are now the previous generation
        cache.set("a", Box(4))
        #expect(cache.value("a")?.value == 4)
        #expect(cache.value("b")?.value == 2)
        #expect(cache.value("zzz") == nil)
    }

    @Test func aCacheBoundedByWeightHoldsAtMostTwoGenerationsOfIt() {
        // Histories are bounded by bytes: values of very different weights, far past the budget.
        let cache = GenerationalCache<Int, Int>(capacity: 1_000, cost: { $0 })
        var rng = SystemRandomNumberGenerator()
        for key in 0..<5_000 {
            let weight = Int.random(in: 1...300, using: &rng)
            cache.set(key, weight)
            guard key % 250 == 249 else { continue }
            #expect(cache.value(key) == weight, "what was just set is there")
            // (Reading every key moves the ones found forward: the bound holds through that too.)
            let held = (0...key).compactMap { cache.value($0) }.reduce(0, +)
            #expect(held <= 2_000, "two generations of the budget at most")
        }
    }

    @Test func everyValueDroppedOrReplacedIsDiscardedOnceAndNoHeldOneIs() {
        // Values that own memory (the kept run records) are freed through `discard`: a value
        // discarded twice, or while still held, would be a double free or a dangling read.
        let discarded = Mutex<[Int: Int]>([:])
        var cache: GenerationalCache<Int, Int>? = GenerationalCache(
            capacity: 50, discard: { value in discarded.withLock { $0[value, default: 0] += 1 } })
        // Values are unique: key * 1000 + how many times the key was set before.
        var sets: [Int: Int] = [:]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let key = Int.random(in: 0..<400, using: &rng)
            let value = key * 1000 + sets[key, default: 0]
            sets[key, default: 0] += 1
            if Bool.random(using: &rng) {
                cache!.set(key, value)
            } else {
                // Read under the lock: whatever is handed out has not been discarded.
                cache!.withValues([key, (key + 1) % 400]) { values in
                    for held in values.compactMap({ $0 }) { #expect(discarded.withLock { $0[held] } == nil) }
                }
                cache!.set(key, value)
            }
        }
        let setCount = sets.values.reduce(0, +)
        let held = Set((0..<400).compactMap { cache!.value($0) })
        let discardedNow = discarded.withLock { $0 }
        #expect(held.allSatisfy { discardedNow[$0] == nil })
        #expect(discarded.withLock { $0.count } + held.count == setCount, "every value is discarded or held")
        cache = nil
        #expect(discarded.withLock { $0.count } == setCount, "the rest when the cache goes")
        #expect(discarded.withLock { $0.values.allSatisfy { $0 == 1 } })
    }
}
