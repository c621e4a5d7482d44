import EsperJSON
import Testing

@Suite struct JSONParsingTests {
    @Test func parseErrorNamesLineAndColumn() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse("{\n  \"a\": tru\n}") }
        do {
            _ = try JSONValue.parse("{\n  \"a\": tru\n}")
        } catch {
            #expect(error.line == 2)
            #expect(error.column > 0)
            #expect(error.description.contains("line 2"))
        }
    }

    @Test func rejectsDuplicateKeys() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(#"{"a":1,"a":2}"#) }
    }

    @Test func rejectsNonFiniteNumbers() throws {
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[NaN]") }
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[Infinity]") }
        #expect(throws: JSONParseError.self) { try JSONValue.parse("[1e400]") }
        #expect(throws: JSONEncodingError.self) { try JSONValue.array([.double(.nan)]).serialized() }
        #expect(throws: JSONEncodingError.self) { try JanssonEncoder().encode(["x": Double.infinity]) }
    }

    @Test func enforcesDepthLimit() throws {
        let ok = String(repeating: "[", count: JSONLimits.maxDepth) + String(repeating: "]", count: JSONLimits.maxDepth)
        _ = try JSONValue.parse(ok)
        let deep = "[" + ok + "]"
        #expect(throws: JSONParseError.self) { try JSONValue.parse(deep) }
    }

    @Test func serializesWithSortedKeysAndShortNumbers() throws {
        let value: JSONValue = ["zeta": 1, "alpha": ["b": true, "a": .null], "mid": 0.1, "s": "q\"\n\u{1}"]
        let text = String(decoding: try value.serialized(), as: UTF8.self)
        #expect(text == #"{"alpha":{"a":null,"b":true},"mid":0.1,"s":"q\"\n\u0001","zeta":1}"#)
    }

    @Test func roundTripsUnicodeAndNulInStrings() throws {
        let value: JSONValue = ["k": "héllo \u{0} ✓"]
        let parsed = try JSONValue.parse(try value.serialized())
        #expect(parsed == value)
    }
}
