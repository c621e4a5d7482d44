/// The shortest text that reads back as the same `Float`/`Double`, written straight into a
/// caller's buffer: the text `description` gives, without the `String` it allocates per
/// number (on the bus every float of every message went through one).
///
/// It is the standard library's own formatter, the runtime entry point `description` calls
/// (`swift_float32ToString`/`swift_float64ToString`, declared `@usableFromInline` in the
/// standard library, so part of its ABI): the text is `description`'s by construction, and
/// `ShortestFloatTextTests` holds it to `description` over millions of values and the edge cases.
enum ShortestFloatText {
    /// Room the formatter needs (the standard library passes 32-byte buffers for both widths;
    /// the longest text, a negative subnormal double, is 24 bytes).
    static let capacity = 32

    /// Writes `value` (finite) at `buffer`, which has room for `capacity` bytes; returns the
    /// number of bytes written.
    @inline(__always) static func write(_ value: Float, to buffer: UnsafeMutablePointer<UInt8>) -> Int {
        clear(buffer)
        return Int(truncatingIfNeeded: swiftFloat32ToString(buffer, UInt(capacity), value, false))
    }

    @inline(__always) static func write(_ value: Double, to buffer: UnsafeMutablePointer<UInt8>) -> Int {
        clear(buffer)
        return Int(truncatingIfNeeded: swiftFloat64ToString(buffer, UInt(capacity), value, false))
    }

    /// The formatter of Swift 6.3 does not write the leading zeros of a number below one
    /// (`0.0` of `0.023`): it expects a buffer of ASCII zeros, as `description` hands it.
    /// Without this, 0.82 came out as the two bytes before it and `82`.
    @inline(__always) private static func clear(_ buffer: UnsafeMutablePointer<UInt8>) {
        buffer.update(repeating: UInt8(ascii: "0"), count: capacity)
    }
}

@_silgen_name("swift_float32ToString")
private func swiftFloat32ToString(
    _ buffer: UnsafeMutablePointer<UInt8>, _ bufferLength: UInt, _ value: Float, _ debug: Bool
) -> UInt64

@_silgen_name("swift_float64ToString")
private func swiftFloat64ToString(
    _ buffer: UnsafeMutablePointer<UInt8>, _ bufferLength: UInt, _ value: Double, _ debug: Bool
) -> UInt64
