internal import CHiredis

#if canImport(Glibc)
    internal import Glibc
#endif

/// A reply from Redis.
public enum RedisReply: Sendable, Equatable {
    case string([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisReply])
    case null
    case error(String)

    public var text: String? {
        switch self {
        case .string(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let s): s
        default: nil
        }
    }
    public var integer: Int64? { if case .integer(let i) = self { i } else { nil } }
    public var array: [RedisReply]? { if case .array(let a) = self { a } else { nil } }
    public var isNull: Bool { self == .null }
}

/// A connection-level failure. After any such error the connection is dead (hiredis rule):
/// drop it and open a new one.
public struct RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// One hiredis connection. Not thread-safe: one per thread (or behind a lock), and discarded
/// after an I/O error. Commands go through the binary-safe argv API.
public final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    public let endpoint: RedisEndpoint
    public private(set) var isBroken = false

    /// Connects, authenticates and selects the database. `timeout` bounds connect and every
    /// reply; blocking reads must pass a longer one.
    public init(endpoint: RedisEndpoint, timeout: Duration = .seconds(2)) throws(RedisError) {
        _ = RedisConnection.ignoreBrokenPipes
        self.endpoint = endpoint
        let tv = RedisConnection.timeval(timeout)
        switch endpoint.address {
        case .tcp(let host, let port): context = redisConnectWithTimeout(host, Int32(port), tv)
        case .unix(let path): context = redisConnectUnixWithTimeout(path, tv)
        }
        guard let context else { throw RedisError("cannot allocate a Redis context") }
        if context.pointee.err != 0 {
            let message = RedisConnection.errorText(context)
            redisFree(context)
            self.context = nil
            throw RedisError("cannot connect to \(endpoint): \(message)")
        }
        _ = redisSetTimeout(context, tv)
        if let password = endpoint.password {
            try expectOK(try command(["AUTH", password]), "AUTH")
        }
        if endpoint.database != 0 {
            try expectOK(try command(["SELECT", String(endpoint.database)]), "SELECT")
        }
    }

    deinit {
        if let context { redisFree(context) }
    }

    /// hiredis writes with plain write(2): a peer that went away would raise SIGPIPE and kill
    /// the process. We want the EPIPE error instead (the connection is then marked broken).
    private static let ignoreBrokenPipes: Void = { signal(SIGPIPE, SIG_IGN) }()

    private func expectOK(_ reply: RedisReply, _ what: String) throws(RedisError) {
        if case .error(let message) = reply { throw RedisError("\(what) failed: \(message)") }
    }

    /// Changes the reply timeout (longer than any `BLOCK` of a blocking read).
    public func setTimeout(_ timeout: Duration) {
        if let context { _ = redisSetTimeout(context, RedisConnection.timeval(timeout)) }
    }

    /// Runs one command. Redis-level errors come back as `.error`; I/O failures throw and
    /// leave the connection broken.
    public func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        try command(arguments.map { Array($0.utf8) })
    }

    public func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisReply {
        guard let context, !isBroken else { throw RedisError("connection is closed") }
        let raw = RedisConnection.withArgv(arguments) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        guard let raw else { throw fail(context) }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return RedisConnection.convert(reply)
    }

    /// Sends every command, then reads every reply (one round trip).
    public func pipeline(_ commands: [[String]]) throws(RedisError) -> [RedisReply] {
        try pipeline(commands.map { $0.map { Array($0.utf8) } })
    }

    /// Binary-safe pipeline: every argument is raw bytes (payloads, signatures).
    public func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        guard let context, !isBroken else { throw RedisError("connection is closed") }
        for arguments in commands {
            let status = RedisConnection.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            if status != REDIS_OK { throw fail(context) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(context, &raw) != REDIS_OK || raw == nil { throw fail(context) }
            replies.append(RedisConnection.convert(raw!.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// Writes commands already encoded in RESP (one copy, one write) without waiting for
    /// their replies (read them with `receiveTexts`), so the caller can work while Redis does.
    func send(_ commands: RESPCommandBuffer) throws(RedisError) {
        guard let context, !isBroken else { throw RedisError("connection is closed") }
        guard commands.count > 0 else { return }
        let status = commands.bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { redisAppendFormattedCommand(context, $0.baseAddress, $0.count) }
        }
        if status != REDIS_OK { throw fail(context) }
        var done: Int32 = 0
        while done == 0 {
            if redisBufferWrite(context, &done) != REDIS_OK { throw fail(context) }
        }
    }

    /// Reads the replies of `texts` commands sent earlier whose answer is a bulk string or
    /// status (XADD's entry id), then of `others` more: the texts straight from hiredis'
    /// reply (no `RedisReply` in between: the publish path reads one per message); an error
    /// reply among them is kept as `firstError` (its text is "").
    func receiveTexts(_ texts: Int, then others: Int) throws(RedisError) -> (texts: [String], firstError: RedisReply?, others: [RedisReply])
    {
        guard let context, !isBroken else { throw RedisError("connection is closed") }
        var result: (texts: [String], firstError: RedisReply?, others: [RedisReply]) = ([], nil, [])
        result.texts.reserveCapacity(texts)
        for index in 0..<(texts + others) {
            var raw: UnsafeMutableRawPointer?
            if redisGetReply(context, &raw) != REDIS_OK || raw == nil { throw fail(context) }
            let reply = raw!.assumingMemoryBound(to: redisReply.self)
            defer { freeReplyObject(raw) }
            guard index < texts else {
                result.others.append(RedisConnection.convert(reply))
                continue
            }
            switch reply.pointee.type {
            case REDIS_REPLY_STRING, REDIS_REPLY_STATUS:
                result.texts.append(
                    String(decoding: UnsafeRawBufferPointer(start: reply.pointee.str, count: reply.pointee.len), as: UTF8.self))
            case REDIS_REPLY_ERROR:
                if result.firstError == nil { result.firstError = RedisConnection.convert(reply) }
                result.texts.append("")
            default:
                result.texts.append("")
            }
        }
        return result
    }

    private func fail(_ context: UnsafeMutablePointer<redisContext>) -> RedisError {
        isBroken = true
        let message = RedisConnection.errorText(context)
        return RedisError(message.isEmpty ? "connection lost" : message)
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    private static func timeval(_ duration: Duration) -> Glibc.timeval {
        let (seconds, attoseconds) = duration.components
        return Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    private static func withArgv<R>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        // The arguments are copied, back to back, into one stable buffer for the duration of
        // the call (one allocation per command: publishing is a hot path).
        let total = arguments.reduce(0) { $0 + $1.count }
        let storage = UnsafeMutablePointer<CChar>.allocate(capacity: max(total, 1))
        defer { storage.deallocate() }
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(arguments.count)
        var offset = 0
        for bytes in arguments {
            bytes.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    if let base = chars.baseAddress { (storage + offset).initialize(from: base, count: chars.count) }
                }
            }
            pointers.append(UnsafePointer(storage + offset))
            offset += bytes.count
        }
        let lengths = arguments.map { $0.count }
        return pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { body(Int32(arguments.count), argv.baseAddress!, $0.baseAddress!) }
        }
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            return .string(r.str == nil ? [] : Array(UnsafeRawBufferPointer(start: r.str, count: r.len)))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: UnsafeRawBufferPointer(start: r.str, count: r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var items: [RedisReply] = []
            items.reserveCapacity(r.elements)
            for i in 0..<r.elements { items.append(convert(r.element[i]!)) }
            return .array(items)
        default:
            return .null
        }
    }
}
