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
}
