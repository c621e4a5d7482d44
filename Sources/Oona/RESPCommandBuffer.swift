/// Redis commands encoded in the RESP wire format into one buffer, so a pipeline of
/// publishes costs one copy into hiredis instead of hiredis formatting every argument
/// (`redisAppendFormattedCommand`).
struct RESPCommandBuffer {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    init(capacity: Int = 4096) {
        bytes.reserveCapacity(capacity)
    }

    /// Starts a command of `arguments` arguments; `argument` must then be called that often.
    mutating func begin(arguments: Int) {
        bytes.append(UInt8(ascii: "*"))
        appendDecimal(arguments)
        bytes.append(contentsOf: [13, 10])
        count += 1
    }

    mutating func argument(_ value: [UInt8]) {
        bytes.append(UInt8(ascii: "$"))
        appendDecimal(value.count)
        bytes.append(contentsOf: [13, 10])
        bytes.append(contentsOf: value)
        bytes.append(contentsOf: [13, 10])
    }

    mutating func command(_ arguments: [[UInt8]]) {
        begin(arguments: arguments.count)
        for argument in arguments { self.argument(argument) }
    }

    private mutating func appendDecimal(_ value: Int) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
        } else {
            bytes.append(contentsOf: String(value).utf8)
        }
    }
}
