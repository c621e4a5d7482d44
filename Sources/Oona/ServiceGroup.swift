public import Logging
import Synchronization

/// Starts services in the given order and stops the started ones in reverse: when one fails
/// to start (the ones before it are stopped again, then the error is thrown) and at shutdown.
public final class ServiceGroup: Sendable {
    public let services: [any LongRunningService]
    private let logger: Logger
    /// How many of `services`, from the front, are running.
    private let started = Mutex(0)

    public struct StartError: Error, CustomStringConvertible {
        public let service: String
        public let underlying: any Error
        public var description: String { "\(service): \(underlying)" }
    }

    public init(_ services: [any LongRunningService], logger: Logger) {
        self.services = services
        self.logger = logger
    }

    public func start() throws(StartError) {
        for (index, service) in services.enumerated() where index >= started.withLock({ $0 }) {
            do {
                try service.start()
            } catch {
                logger.error(
                    "service failed to start; stopping the ones started", metadata: ["service": "\(service.name)", "error": "\(error)"])
                stop()
                throw StartError(service: service.name, underlying: error)
            }
            started.withLock { $0 = index + 1 }
        }
    }

    /// Stops the started services, last started first.
    public func stop() {
        while let service = started.withLock({ count -> (any LongRunningService)? in
            guard count > 0 else { return nil }
            count -= 1
            return services[count]
        }) {
            service.stop()
        }
    }
}

/// A service made of closures: for parts whose module does not know the protocol (the HTTP
/// server, the run service) or that need extra steps around their own start and stop.
public final class ServiceAdapter: LongRunningService {
    public let name: String
    private let startBody: @Sendable () throws -> Void
    private let stopBody: @Sendable () -> Void
    private let healthBody: @Sendable () -> ServiceHealth

    public init(
        name: String, start: @escaping @Sendable () throws -> Void, stop: @escaping @Sendable () -> Void,
        health: @escaping @Sendable () -> ServiceHealth = { ServiceHealth(healthy: true, detail: "running") }
    ) {
        self.name = name
        startBody = start
        stopBody = stop
        healthBody = health
    }

    public func start() throws { try startBody() }
    public func stop() { stopBody() }
    public var health: ServiceHealth { healthBody() }
}
