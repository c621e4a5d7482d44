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
        Int(truncatingIfNeeded: swiftFloat32ToString(buffer, UInt(capacity), value, false))
    }

    @inline(__always) static func write(_ value: Double, to buffer: UnsafeMutablePointer<UInt8>) -> Int {
        Int(truncatingIfNeeded: swiftFloat64ToString(buffer, UInt(capacity), value, false))
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
