import EsperJSON
import Testing

@testable import Runs

/// A history's `fields=` copies members out of stored JSON without decoding it: the result
/// must be what decoding, keeping those members and encoding again gives — with strings that
/// hold quotes, escaped backslashes and brackets, and nested objects and arrays.
@Suite struct StoredJSONMembersTests {
    static let documents: [JSONValue] = [
        [
            "a": "plain", "b\"q": "x\\\\", "c": ["}", "]", "{[", "\\\"", ["n": [1, 2, ["deep": "\\"]]]], "d": 1.5,
            "e": ["k\\\\": ["\"": "}\"]"]], "epoch": 7, "f": nil, "g": true, "z": "",
        ],
        ["epoch": 0],
        [:],
        [
            "seeds": [["id": "s\"1", "stage": "TRAINING", "alpha": 0.25], ["id": "s2\\", "stage": "BLENDING"]],
            "slots": [["name": "slot-0", "width": 32]], "epoch": 99, "validation_loss": 0.031, "train_loss": 1e-9,
        ],
    ]

    @Test func selectedMembersAreTheEncodedSubsetByteForByte() throws {
        for document in Self.documents {
            guard case .object(let members) = document else { continue }
            let stored = try JanssonEncoder().encode(document)
            let keys = Array(members.keys)
            // Every subset of up to 3 keys, plus names that are not there.
            var selections: [Set<String>] = [[], ["nope"], Set(keys)]
            for a in keys {
                selections.append([a])
                for b in keys { selections.append([a, b, "missing"]) }
            }
            for selection in selections {
                var out: [UInt8] = []
                stored.withUnsafeBufferPointer { StoredJSONMembers.select(.init(selection), from: $0, into: &out) }
                let expected = try JanssonEncoder().encode(JSONValue.object(members.filter { selection.contains($0.key) }))
                #expect(out == expected, "\(selection): \(String(decoding: out, as: UTF8.self))")
            }
        }
    }

    @Test func textThatIsNotAnObjectGivesAnEmptyObject() {
        for text in ["", "[1,2]", "\"s\"", "{\"unterminated"] {
            var out: [UInt8] = []
            Array(text.utf8).withUnsafeBufferPointer { StoredJSONMembers.select(.init(["a"]), from: $0, into: &out) }
            #expect(out.first == UInt8(ascii: "{") && out.last == UInt8(ascii: "}"))
        }
    }
}
