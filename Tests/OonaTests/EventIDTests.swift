import Foundation
import Testing

@testable import Oona

/// Event ids (version 4) and run ids (version 7, time-ordered): UUIDs in lower case.
@Suite struct EventIDTests {
    static func checkShape(_ id: String, version: Character) {
        #expect(id.count == 36)
        #expect(id == id.lowercased())
        let parsed = UUID(uuidString: id)
        #expect(parsed?.uuidString.lowercased() == id)
        let characters = Array(id)
        #expect(characters[14] == version, "version \(version): \(id)")
        #expect("89ab".contains(characters[19]), "RFC 4122 variant: \(id)")
    }

    @Test func bothRandomGeneratorsGiveDistinctVersion4UUIDsInLowerCase() {
        for make in [EventID.make, EventID.unpredictable] {
            var seen = Set<String>()
            for _ in 0..<2_000 {
                let id = make()
                Self.checkShape(id, version: "4")
                seen.insert(id)
            }
            #expect(seen.count == 2_000)
        }
    }

    /// Run ids begin with the millisecond they were made in (RFC 9562's 48-bit Unix time), so
    /// ids of later milliseconds sort after earlier ones — the registry's id index is appended
    /// to, not written all over; ids of one millisecond differ in their 74 random bits.
    @Test func timeOrderedIdsAreVersion7SortByTheirMillisecondAndDiffer() {
        let start: UInt64 = 1_796_044_940_222  // 2026-12-02
        var seen = Set<String>()
        var previous = ""
        for step in 0..<2_000 {
            let milliseconds = start + UInt64(step / 4)  // four ids per millisecond
            let id = EventID.timeOrdered(unixMilliseconds: milliseconds)
            Self.checkShape(id, version: "7")
            let hex = id.replacingOccurrences(of: "-", with: "")
            #expect(UInt64(hex.prefix(12), radix: 16) == milliseconds, "the first 48 bits are the time: \(id)")
            if step % 4 == 0 { #expect(id > previous, "\(id) sorts after the last millisecond's \(previous)") }
            previous = max(previous, id)
            seen.insert(id)
        }
        #expect(seen.count == 2_000)
    }
}
