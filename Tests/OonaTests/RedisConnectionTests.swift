import EsperTestSupport
import Foundation
import Oona
import Testing

@Suite struct RedisEndpointTests {
    @Test func parsesTheURLForms() throws {
        #expect(try RedisEndpoint.parse("redis://localhost") == RedisEndpoint(address: .tcp(host: "localhost", port: 6379)))
        #expect(
            try RedisEndpoint.parse("redis://:pw@10.0.0.1:6380/3")
                == RedisEndpoint(address: .tcp(host: "10.0.0.1", port: 6380), database: 3, password: "pw"))
        #expect(try RedisEndpoint.parse("unix:///tmp/r.sock?db=2") == RedisEndpoint(address: .unix(path: "/tmp/r.sock"), database: 2))
        for bad in ["http://x", "redis://", "redis://h:0", "redis://h/99", "unix://relative.sock", "unix:///s?x=1", "rediss://h"] {
            #expect(throws: RedisEndpoint.ParseError.self, "\(bad)") { try RedisEndpoint.parse(bad) }
        }
    }
}

@Suite struct RedisConnectionTests {
    @Test func commandsPipelinesAndBinarySafety() throws {
        let redis = try RedisTestServer()
        let connection = try redis.connection()
        #expect(try connection.command(["PING"]) == .status("PONG"))
        let binary: [UInt8] = [0, 1, 2, 255, 10, 13]
        _ = try connection.command([Array("SET".utf8), Array("k".utf8), binary])
        #expect(try connection.command(["GET", "k"]) == .string(binary))
        #expect(try connection.command(["GET", "missing"]) == .null)
        #expect(try connection.command(["INCR", "n"]) == .integer(1))
        if case .error(let message) = try connection.command(["NOSUCHCOMMAND"]) {
            #expect(message.contains("unknown command"))
        } else {
            Issue.record("expected an error reply")
        }
        let replies = try connection.pipeline([["RPUSH", "l", "a", "b"], ["LRANGE", "l", "0", "-1"]])
        #expect(replies == [.integer(2), .array([.string(Array("a".utf8)), .string(Array("b".utf8))])])
    }

    @Test func aDeadServerBreaksTheConnectionWithoutCrashing() throws {
        let redis = try RedisTestServer()
        let connection = try redis.connection()
        let pid = try #require(redis.managed.pid)
        kill(pid, SIGKILL)
        #expect(eventually(within: 5) { (try? connection.command(["PING"])) == nil })
        #expect(connection.isBroken)
        #expect(throws: RedisError.self) { try RedisConnection(endpoint: RedisEndpoint(address: .unix(path: "/nonexistent.sock"))) }
    }
}

@Suite struct ManagedRedisTests {
    @Test func usesAppendOnlyFileAndRestartsAfterACrash() throws {
        let redis = try RedisTestServer()
        let connection = try redis.connection()
        #expect(
            try connection.command(["CONFIG", "GET", "appendonly"])
                == .array([.string(Array("appendonly".utf8)), .string(Array("yes".utf8))]))
        _ = try connection.command(["SET", "durable", "1"])
        let first = try #require(redis.managed.pid)
        kill(first, SIGKILL)
        #expect(eventually(within: 10) { redis.managed.isAvailable && redis.managed.pid != first })
        // What was acknowledged before the crash is still there (AOF).
        #expect(try redis.connection().command(["GET", "durable"]) == .string(Array("1".utf8)))
    }

    /// Without a configuration file the append-only file is the only persistence: no RDB
    /// snapshots, so a Redis whose directory is gone (or whose disk is full) still stops at
    /// SIGTERM. With default snapshots it refused ("Error trying to save the DB, can't exit")
    /// and outlived the server that started it.
    @Test func withoutAConfigFileTheAppendOnlyFileIsThePersistenceAndStopAlwaysEnds() throws {
        let directory = TemporaryDirectory()
        let options = ManagedRedis.Options(directory: directory.path + "/redis")
        let managed = ManagedRedis(options: options, logger: .init(label: "t"))
        try managed.start()
        let connection = try RedisConnection(endpoint: managed.endpoint)
        #expect(try connection.command(["CONFIG", "GET", "save"]) == .array([.string(Array("save".utf8)), .string([])]))
        for index in 0..<100 { _ = try connection.command(["SET", "key\(index)", "value"]) }
        let pid = try #require(managed.pid)
        try FileManager.default.removeItem(atPath: directory.path + "/redis")
        // SIGTERM alone ends it (stop() would follow with SIGKILL after 5 s, hiding a refusal).
        kill(pid, SIGTERM)
        #expect(eventually(within: 10) { kill(pid, 0) != 0 }, "redis-server \(pid) refused SIGTERM")
        managed.stop()
    }

    @Test func aMissingBinaryIsAClearError() throws {
        let directory = TemporaryDirectory()
        var options = ManagedRedis.Options(directory: directory.path)
        options.executable = "/nonexistent/redis-server"
        let managed = ManagedRedis(options: options, logger: .init(label: "t"))
        do {
            try managed.start()
            Issue.record("started without a binary")
        } catch {
            #expect("\(error)".contains("apt-get install redis-server"))
        }
    }
}
