import Foundation
import Logging
import Oona

/// A real redis-server for one test (or suite) on a private unix socket in a temporary
/// directory, started through the product's own `ManagedRedis`; stopped and deleted on
/// release. Never a fake: the behaviour under test is Redis'.
public final class RedisTestServer: @unchecked Sendable {
    public let directory = TemporaryDirectory("esper-redis")
    public let managed: ManagedRedis
    public var endpoint: RedisEndpoint { managed.endpoint }

    public init() throws {
        var logger = Logger(label: "redis-test")
        logger.logLevel = .error
        managed = ManagedRedis(options: ManagedRedis.Options(directory: directory.path + "/redis"), logger: logger)
        try managed.start()
    }

    /// A new connection to this server.
    public func connection() throws -> RedisConnection { try RedisConnection(endpoint: endpoint) }

    deinit { managed.stop() }
}
