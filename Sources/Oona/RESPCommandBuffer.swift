/// Redis commands encoded in the RESP wire format into one buffer, so a pipeline of
/// publishes costs one copy into hiredis instead of hiredis formatting every argument
/// (`redisAppendFormattedCommand`). The publish path also frames an entry's fields here
/// straight from the encoder's and the signer's buffers, and reuses one buffer per batch
/// (`reset`), so framing costs no allocation per message.
struct RESPCommandBuffer {
    private(set) var bytes: [UInt8] = []
    /// Whole commands in the buffer.
    private(set) var count = 0

    init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer and keeps its storage.
    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        count = 0
    }

    /// Starts a command of `arguments` arguments; `argument` must then be called that often.
    mutating func begin(arguments: Int) {
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(arguments)
        bytes.append(contentsOf: [13, 10])
        count += 1
    }

    mutating func argument(_ value: [UInt8]) {
        value.withUnsafeBufferPointer { argument($0) }
    }

    mutating func argument(_ value: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(value.count)
        bytes.append(contentsOf: [13, 10])
        bytes.append(contentsOf: value)
        bytes.append(contentsOf: [13, 10])
    }

    /// Arguments already framed (by `argument`, into another buffer).
    mutating func append(_ framed: [UInt8]) {
        bytes.append(contentsOf: framed)
    }

    /// An argument of `length` bytes that `fill` writes in place.
    mutating func argument(length: Int, _ fill: (UnsafeMutablePointer<UInt8>) -> Void) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(length)
        bytes.append(contentsOf: [13, 10])
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: length))
        bytes.withUnsafeMutableBufferPointer { fill($0.baseAddress! + start) }
        bytes.append(contentsOf: [13, 10])
    }

    mutating func command(_ arguments: [[UInt8]]) {
        begin(arguments: arguments.count)
        for argument in arguments { self.argument(argument) }
    }

    /// One command from RESP bytes framed earlier: its header and leading arguments (`head`,
    /// from `begin` and `argument`) and its remaining arguments (`rest`).
    mutating func command(head: [UInt8], rest: ArraySlice<UInt8>) {
        bytes.append(contentsOf: head)
        bytes.append(contentsOf: rest)
        count += 1
    }

    /// Lengths and counts (never negative), digit by digit from the right (divisions by the
    /// constant 10): no `String` of the number.
    private mutating func appendDecimal(_ value: Int) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = value
            var start = digits.count
            while rest > 0 {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }
}
