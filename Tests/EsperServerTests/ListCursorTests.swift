import EsperHTTP
import Testing

@testable import EsperAPI

/// The one list cursor and page: every list endpoint issues and reads the same codec, and
/// every page says `next_cursor`, null on the last one.
@Suite struct ListCursorTests {
    @Test func cursorsRoundTripSequencesAndIds() {
        #expect(ListCursor.decodeSequence(ListCursor.encode(Int64(42))) == 42)
        #expect(ListCursor.decode(ListCursor.encode("BP017")) == "BP017")
        #expect(!ListCursor.encode(Int64.max).contains("="))
    }

    @Test func foreignOrMalformedCursorsAreRefused() {
        #expect(ListCursor.decode("garbage!") == nil)
        #expect(ListCursor.decode("x") == nil)
        #expect(ListCursor.decodeSequence(ListCursor.encode("BP017")) == nil)
        #expect(ListCursor.decodeSequence(ListCursor.encode(Int64(0))) == nil)
        #expect(ListCursor.decode(String(repeating: "A", count: ListCursor.maxLength + 4)) == nil)
        // base64url of "v1:BP001", the blueprint lists' old form, is not this codec's.
        #expect(ListCursor.decode("djE6QlAwMDE") == nil)
    }

    @Test func lastPageSaysNullNextCursor() throws {
        let last = String(decoding: try HTTPResponse.json(ListPage(items: [1, 2], nextCursor: nil)).body, as: UTF8.self)
        #expect(last == #"{"items":[1,2],"next_cursor":null}"#)
        let more = String(decoding: try HTTPResponse.json(ListPage(items: [1], nextCursor: "abc")).body, as: UTF8.self)
        #expect(more == #"{"items":[1],"next_cursor":"abc"}"#)
    }
}
