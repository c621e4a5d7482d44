import EsperJSON
import Testing

struct Seed: Codable, Equatable {
    var seedId: String
    var gradientNorm: Float
    var ageEpochs: UInt32
    var metrics: [String: Float]
}

struct Packet: Codable, Equatable {
    var version: UInt32
    var packetId: String
    var globalStep: UInt64
    var validationLoss: Double
    var seedStates: [Seed]
    var note: String?
}

@Suite struct CodableTests {
    let packet = Packet(
        version: 1, packetId: "run-epoch-3", globalStep: 1024, validationLoss: 0.123,
        seedStates: [Seed(seedId: "seed-1", gradientNorm: 0.18, ageEpochs: 4, metrics: ["grad_norm": 0.5, "lossDelta": -1])],
        note: nil)

    @Test func encodesSnakeCaseKeysButNotDictionaryKeys() throws {
        let text = String(decoding: try JanssonEncoder().encode(packet), as: UTF8.self)
        #expect(
            text
                == #"{"global_step":1024,"packet_id":"run-epoch-3","seed_states":[{"age_epochs":4,"gradient_norm":0.18,"metrics":{"grad_norm":0.5,"lossDelta":-1.0},"seed_id":"seed-1"}],"validation_loss":0.123,"version":1}"#
        )
    }

    @Test func roundTripsExactly() throws {
        let bytes = try JanssonEncoder().encode(packet)
        let decoded = try JanssonDecoder().decode(Packet.self, from: bytes)
        #expect(decoded == packet)
        #expect(try JanssonEncoder().encode(decoded) == bytes)
    }

    @Test func unknownKeysAreNamedInStrictMode() throws {
        let text =
            #"{"global_step":1,"packet_id":"p","seed_states":[{"age_epochs":4,"gradient_norm":0.1,"metrics":{},"seed_id":"s","colour":1}],"validation_loss":0.1,"version":1,"extra":true}"#
        _ = try JanssonDecoder().decode(Packet.self, from: Array(text.utf8))
        do {
            _ = try JanssonDecoder(rejectUnknownKeys: true).decode(Packet.self, from: Array(text.utf8))
            Issue.record("expected unknown-field error")
        } catch let error as JSONUnknownFieldsError {
            #expect(error.fields == ["extra", "seed_states[0].colour"])
        }
    }

    @Test func problemsNameTheField() throws {
        let cases: [(String, String)] = [
            (
                #"{"global_step":1,"packet_id":"p","seed_states":[{"age_epochs":-4,"gradient_norm":0.1,"metrics":{},"seed_id":"s"}],"validation_loss":0.1,"version":1}"#,
                "seed_states[0].age_epochs"
            ),
            (#"{"global_step":1,"packet_id":7,"seed_states":[],"validation_loss":0.1,"version":1}"#, "packet_id"),
            (#"{"global_step":1,"seed_states":[],"validation_loss":0.1,"version":1}"#, "packet_id"),
            (#"{"global_step":1,"packet_id":"p","seed_states":[],"validation_loss":0.1,"version":2.5}"#, "version"),
            (
                #"{"global_step":1,"packet_id":"p","seed_states":[{"age_epochs":1,"gradient_norm":1e300,"metrics":{},"seed_id":"s"}],"validation_loss":0.1,"version":1}"#,
                "seed_states[0].gradient_norm"
            ),
        ]
        for (text, field) in cases {
            do {
                _ = try JanssonDecoder().decode(Packet.self, from: Array(text.utf8))
                Issue.record("expected failure for \(field)")
            } catch {
                let problems = try #require(JSONFieldProblem.from(error))
                #expect(problems.first?.field == field, "\(problems)")
            }
        }
    }

    @Test func integersBeyondInt64NameTheFieldInsteadOfFailingTheParse() throws {
        // Valid JSON whose integer no 64-bit field can hold: the field is named, the rest decodes.
        let text = #"{"global_step":100000000000000000000,"packet_id":"p","seed_states":[],"validation_loss":1,"version":1}"#
        do {
            _ = try JanssonDecoder().decode(Packet.self, from: Array(text.utf8))
            Issue.record("expected global_step to be refused")
        } catch {
            #expect(!(error is JSONParseError))
            let problems = try #require(JSONFieldProblem.from(error))
            #expect(problems.map(\.field) == ["global_step"], "\(problems)")
        }
        #expect(try JSONValue.parse("[100000000000000000000, 7]") == [1e20, 7])
        // Unsigned 64-bit fields stop at Int64.max however the number is written.
        for big in ["9223372036854775808", "9223372036854775808.0"] {
            #expect(throws: DecodingError.self) {
                try JanssonDecoder().decode([String: UInt64].self, from: Array("{\"seed\":\(big)}".utf8))
            }
        }
    }

    @Test func sixtyFourBitIntegersAcceptDecimalStrings() throws {
        let text = #"{"global_step":"9007199254740993","packet_id":"p","seed_states":[],"validation_loss":1,"version":1}"#
        let decoded = try JanssonDecoder().decode(Packet.self, from: Array(text.utf8))
        #expect(decoded.globalStep == 9_007_199_254_740_993)
        #expect(decoded.validationLoss == 1)
    }

    @Test func jsonValueDecodesAnything() throws {
        let value = try JanssonDecoder().decode([String: JSONValue].self, from: Array(#"{"a":[1,2.5,"x",null,{"b":false}]}"#.utf8))
        #expect(value["a"] == [1, 2.5, "x", nil, ["b": false]])
    }
}
