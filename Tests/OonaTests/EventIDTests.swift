import Foundation
import Testing

@testable import Oona

/// Event ids and run ids: version 4 UUIDs in lower case, from either generator.
@Suite struct EventIDTests {
    @Test func bothGeneratorsGiveDistinctVersion4UUIDsInLowerCase() {
        for make in [EventID.make, EventID.unpredictable] {
            var seen = Set<String>()
            for _ in 0..<2_000 {
                let id = make()
                #expect(id.count == 36)
                #expect(id == id.lowercased())
                let parsed = UUID(uuidString: id)
                #expect(parsed?.uuidString.lowercased() == id)
                let bytes = Array(id.utf8)
                #expect(bytes[14] == UInt8(ascii: "4"), "version 4: \(id)")
                #expect([UInt8]("89ab".utf8).contains(bytes[19]), "RFC 4122 variant: \(id)")
                seen.insert(id)
            }
            #expect(seen.count == 2_000)
        }
    }
}
