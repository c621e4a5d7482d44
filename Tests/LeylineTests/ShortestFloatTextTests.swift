import Leyline
import Testing

/// The writer formats floats in place (`ShortestFloatText`) instead of through
/// `description`: the text must be exactly what the `description` route wrote, for every kind
/// of value — random bit patterns over the whole range, subnormals, the edges of the exponent
/// form, signed zeros — and non-finite values still take the slow path as before.
@Suite struct ShortestFloatTextTests {
    /// What the writer wrote for a `float` before it formatted in place.
    static func describedFloat(_ value: Float) -> String {
        let text = value.description
        if text.contains("e") { return (Double(text) ?? Double(value)).description }
        return text
    }

    static func written(_ write: (inout LeylineJSONWriter) -> Void) -> (text: String, slow: Bool) {
        var writer = LeylineJSONWriter(capacity: 16)
        write(&writer)
        return (String(decoding: writer.bytes, as: UTF8.self), writer.needsSlowPath)
    }

    static let floatEdges: [Float] = {
        var values: [Float] = [
            0, 1, 0.1, 0.82, 0.456, 12.5, 1.0 / 3, 0.0001, 0.00009999, 0.000099999994, 0.00001, 1e-5, 1e-6,
            16_777_215, 16_777_216, Float(16_777_216).nextUp, 9_999_999, 10_000_000, 1e16, 3.4028235e38, 123_456.79,
            .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, .ulpOfOne, .pi,
            Float(bitPattern: 0x0000_0001), Float(bitPattern: 0x007F_FFFF), Float(bitPattern: 0x0080_0000),
            Float(bitPattern: 0x7F7F_FFFF),
        ]
        for exponent in -149...127 { values.append(Float(sign: .plus, exponent: exponent, significand: 1)) }
        var power: Float = 1
        for _ in 0..<38 {
            values += [power, power.nextUp, power.nextDown]
            power *= 10
        }
        power = 1
        for _ in 0..<45 {
            values += [power, power.nextUp, power.nextDown]
            power /= 10
        }
        return values + values.map { -$0 }
    }()

    static let doubleEdges: [Double] = {
        var values: [Double] = [
            0, 1, 0.1, 0.82, 0.456, 12.5, 1.0 / 3, 0.0001, 0.00001, 1e-5, 2.5e-7, 1e15, 1e16, 1e17, 2_251_799_813_685_248,
            9_007_199_254_740_992, Double(9_007_199_254_740_992).nextUp, 1.7976931348623157e308, 2.2250738585072014e-308,
            .leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, .ulpOfOne, .pi,
        ]
        for exponent in stride(from: -1074, through: 1023, by: 7) { values.append(Double(sign: .plus, exponent: exponent, significand: 1)) }
        var power: Double = 1
        for _ in 0..<308 {
            values += [power, power.nextUp, power.nextDown]
            power *= 10
        }
        // Every Float as a double (telemetry values often are).
        values += floatEdges.map { Double($0) }
        return values + values.map { -$0 }
    }()

    @Test func floatEdgesAreWrittenAsBefore() {
        for value in ShortestFloatTextTests.floatEdges {
            let (text, slow) = ShortestFloatTextTests.written { $0.float(value) }
            #expect(text == ShortestFloatTextTests.describedFloat(value), "bit pattern \(value.bitPattern)")
            #expect(!slow)
        }
    }

    @Test func doubleEdgesAreWrittenAsBefore() {
        for value in ShortestFloatTextTests.doubleEdges {
            let (text, slow) = ShortestFloatTextTests.written { $0.double(value) }
            #expect(text == value.description, "bit pattern \(value.bitPattern)")
            #expect(!slow)
        }
    }

    /// Random bit patterns cover every exponent and significand shape (NaNs and infinities
    /// among them are skipped here and tested below).
    @Test(arguments: [UInt64(1), 20_261_207])
    func randomFloatsAreWrittenAsBefore(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var writer = LeylineJSONWriter()
        var mismatches: [UInt32] = []
        for _ in 0..<300_000 {
            let value = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            guard value.isFinite else { continue }
            writer.reset()
            writer.float(value)
            if String(decoding: writer.bytes, as: UTF8.self) != ShortestFloatTextTests.describedFloat(value) {
                mismatches.append(value.bitPattern)
            }
        }
        #expect(mismatches.isEmpty, "first: \(mismatches.prefix(5))")
    }

    @Test(arguments: [UInt64(3), 20_261_207])
    func randomDoublesAreWrittenAsBefore(seed: UInt64) {
        var rng = SeededGenerator(seed: seed)
        var writer = LeylineJSONWriter()
        var mismatches: [UInt64] = []
        for round in 0..<300_000 {
            // Half of them uniform in a telemetry-like range, half any bit pattern.
            let value = round % 2 == 0 ? Double.random(in: -10_000...10_000, using: &rng) : Double(bitPattern: rng.next())
            guard value.isFinite else { continue }
            writer.reset()
            writer.double(value)
            if String(decoding: writer.bytes, as: UTF8.self) != value.description { mismatches.append(value.bitPattern) }
        }
        #expect(mismatches.isEmpty, "first: \(mismatches.prefix(5))")
    }

    /// Non-finite values: a placeholder and the slow path (the reference encoder then names
    /// the field), as before.
    @Test func nonFiniteValuesTakeTheSlowPath() {
        for value in [Float.nan, -.nan, .signalingNaN, .infinity, -.infinity] {
            let (text, slow) = ShortestFloatTextTests.written { $0.float(value) }
            #expect(text == "0" && slow)
        }
        for value in [Double.nan, -.nan, .signalingNaN, .infinity, -.infinity] {
            let (text, slow) = ShortestFloatTextTests.written { $0.double(value) }
            #expect(text == "0" && slow)
        }
    }

    /// In arrays and objects the separators are unchanged, and growing the buffer mid-number
    /// (a writer of minimum capacity) loses nothing.
    @Test func floatsInContainersAndAcrossGrowth() {
        let values: [Float] = [0.82, -1e-7, 3.4028235e38, 16_777_216, 0]
        var writer = LeylineJSONWriter(capacity: 1)
        writer.beginArray()
        for value in values { writer.float(value) }
        for value in values { writer.double(Double(value) / 3) }
        writer.endArray()
        let expected =
            "[" + (values.map(ShortestFloatTextTests.describedFloat) + values.map { (Double($0) / 3).description }).joined(separator: ",")
            + "]"
        #expect(String(decoding: writer.bytes, as: UTF8.self) == expected)
    }
}
